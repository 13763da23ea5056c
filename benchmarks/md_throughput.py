"""MTP-MD throughput in LAMMPS against the bare potential evaluation, in one run; prints JSON.

For Li3PS4-like amorphous cells (96 and 1152 atoms, 3 species) at MTP levels 12 and 16, with
the native core and with motep:
- bare: µs per atom per energy+forces+stress call of the potential on the frames the MD run
  visits, in order (so neighbour lists are rebuilt exactly as often as in the MD);
- grade: the same with the extrapolation grade (active set present);
- md_fix_external: µs per atom per step of NVT MD in LAMMPS, the potential evaluated in Python
  through fix external, grade watched;
- md_pair_style: the same with the forces and grade from `pair_style mtp` inside LAMMPS (both
  backends' potentials run in lotf's plugin there).
Ratios: coupling overhead = md_fix_external / grade - 1 (target ≤ 0.15), pair_style_speedup =
md_fix_external / md_pair_style, grade cost = grade / bare - 1 (target ≤ 0.10; the grade
linearises in all parameters, so it costs a reverse pass per atom).
The potential has random coefficients scaled down so MD at 100 K stays gentle; speed does not
depend on their values. Usage: python benchmarks/md_throughput.py [--quick]
"""

import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import ase.io
import numpy as np

from lotf.build.amorphous import AmorphousSpec, pack
from lotf.md.run import MDSettings, run_md
from lotf.potential import ActiveSet, create

SPEC = AmorphousSpec(builder="amorphous", units={"PS4": 12, "Li": 36}, density=1.8,
                     min_distance={"default": 1.9, "S-S": 2.7, "Li-S": 2.1, "Li-Li": 2.2})


def cells() -> dict[str, object]:
    small = pack(SPEC, np.random.default_rng(0))
    return {"96": small, "1152": small * (2, 2, 3)}


def gentle_potential(level: int, cell, backend: str):
    potential = create(["Li", "P", "S"], backend=backend, level=level, cutoff=5.0, min_dist=1.8,
                       seed=0)
    if backend == "native":
        parameters = potential.mtp.parameters()
        parameters[:len(potential.mtp.moment_coeffs)] *= 1e-8
        potential.set_parameters(parameters)
    else:
        potential.data.moment_coeffs = potential.data.moment_coeffs * 1e-8
    rng = np.random.default_rng(1)
    copies = []
    parameters = potential.basis_rows([cell], "neighbourhood")[0].shape[1]
    for _ in range(max(2, 2 * parameters // len(cell) + 2)):
        copy = cell.copy()
        copy.positions += rng.normal(0, 0.1, copy.positions.shape)
        copies.append(copy)
    rows, _ = potential.basis_rows(copies, "neighbourhood")
    return potential, ActiveSet.from_rows(rows, "neighbourhood")


def md_frames(potential, cell, steps: int, path: Path) -> list:
    """The frames an MD run visits, every step (an untimed run; the timed ones repeat it)."""
    run_md(potential, cell, settings(steps, "fix_external", dump_every=1), trajectory=path)
    return ase.io.read(path, index=":")


def settings(steps: int, coupling: str, dump_every: int = 0) -> MDSettings:
    return MDSettings("nvt", (100.0, 100.0), steps, thermo_every=steps, break_threshold=1e30,
                      dump_every=dump_every, seed=7, coupling=coupling)


def per_atom_call(potential, frames: list) -> float:
    """Seconds per atom per evaluate() over the frames, in order (as MD would call it)."""
    potential.evaluate(frames[0])
    start = time.perf_counter()
    for atoms in frames[1:]:
        potential.evaluate(atoms)
    return (time.perf_counter() - start) / (len(frames) - 1) / len(frames[0])


def per_atom_step(potential, cell, steps: int, coupling: str) -> float:
    """Seconds per atom per MD step in LAMMPS, the set-up cost taken out by a 1-step run."""
    def timed(n: int) -> tuple[float, int]:
        start = time.perf_counter()
        result = run_md(potential, cell, settings(n, coupling))
        return time.perf_counter() - start, result.steps

    (long, done), (short, _) = timed(steps), timed(1)
    return (long - short) / (done - 1) / len(cell)


def main(quick: bool = False) -> dict:
    results = {}
    for backend, (name, cell), level in itertools.product(("native", "motep"), cells().items(),
                                                      (12, 16)):
        steps = (100 if name == "96" else 12) // (2 if quick else 1)
        potential, active_set = gentle_potential(level, cell, backend)
        with tempfile.TemporaryDirectory() as scratch:
            frames = md_frames(potential, cell, steps, Path(scratch) / "md.extxyz")
        bare = per_atom_call(potential, frames)
        potential.active_set = active_set
        graded = per_atom_call(potential, frames)
        external = per_atom_step(potential, cell, steps, "fix_external")
        pair = per_atom_step(potential, cell, steps, "pair_style")
        results[f"{backend}_atoms{name}_level{level}"] = {
            "backend": backend, "atoms": len(cell), "level": level,
            "bare_us_per_atom": round(bare * 1e6, 2),
            "grade_us_per_atom": round(graded * 1e6, 2),
            "md_fix_external_us_per_atom_step": round(external * 1e6, 2),
            "md_pair_style_us_per_atom_step": round(pair * 1e6, 2),
            "grade_cost_ratio": round(graded / bare - 1, 3),
            "coupling_overhead_ratio": round(external / graded - 1, 3),
            "pair_style_speedup": round(external / pair, 2),
        }
    return results


if __name__ == "__main__":
    print(json.dumps(main("--quick" in sys.argv), indent=2))
