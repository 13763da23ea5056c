"""MTP-MD in LAMMPS with `pair_style mtp` (the plugin) against lotf's fix-external route, in one
run; prints JSON.

A 1000-atom Li3PS4-like cell (benchmarks/mtp_core.py's), a level-16 MTP with random
coefficients scaled down so NVE MD from 300 K stays gentle (speed does not depend on their
values), 1 fs steps, one MPI rank and one OpenMP thread. Reported: ns/day and µs per atom per
step of each route, without the grade (the plugin does not compute it yet), and their ratio.
Usage: python benchmarks/lammps_pair_style.py [--quick]
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from mtp_core import SPECIES, cell

from lotf.lammps_plugins import plugin_path
from lotf.md.library import open_lammps
from lotf.md.run import MDSettings, run_md
from lotf.potential import _mtp, create
from lotf.potential.mtp_file import write_mtp

TIMESTEP_FS = 1.0


def gentle(level: int):
    potential = create(SPECIES[3], level=level, cutoff=5.0, min_dist=1.6, seed=0)
    parameters = potential.mtp.parameters()
    parameters[:len(potential.mtp.moment_coeffs)] *= 1e-8
    potential.set_parameters(parameters)
    return potential


def pair_style_seconds(potential, atoms, steps: int, directory: Path) -> float:
    """Wall time of `steps` NVE steps with pair_style mtp, set-up excluded."""
    write_mtp(directory / "pot.mtp", potential.mtp)
    data = directory / "cell.data"
    from ase.io import write

    write(data, atoms, format="lammps-data", specorder=SPECIES[3], masses=True)
    lmp = open_lammps()
    for command in [f"plugin load {plugin_path()}", "units metal", "atom_style atomic",
                    f"read_data {data}", "pair_style mtp", f"pair_coeff * * {directory}/pot.mtp 0 1 2",
                    f"timestep {TIMESTEP_FS / 1000}", "velocity all create 300 7 loop geom",
                    "fix nve all nve", "thermo 0", "run 1"]:
        lmp.command(command)
    start = time.perf_counter()
    lmp.command(f"run {steps}")
    seconds = time.perf_counter() - start
    lmp.close()
    return seconds


def fix_external_seconds(potential, atoms, steps: int) -> float:
    """Wall time of `steps` NVE steps through fix external, a 1-step run's set-up taken out."""
    def timed(n: int) -> float:
        start = time.perf_counter()
        run_md(potential, atoms, MDSettings("nve", (300.0, 300.0), n, timestep_fs=TIMESTEP_FS,
                                            thermo_every=n, break_threshold=1e30))
        return time.perf_counter() - start

    return timed(steps + 1) - timed(1)


def main(quick: bool) -> dict:
    _mtp.set_threads(1)
    steps = 20 if quick else 100
    atoms = cell(1000, 3, seed=1000)
    potential = gentle(16)
    with tempfile.TemporaryDirectory() as scratch:
        plugin = pair_style_seconds(potential, atoms, steps, Path(scratch))
    external = fix_external_seconds(potential, atoms, steps)
    day_ns = 86400 * TIMESTEP_FS * 1e-6

    def route(seconds: float) -> dict:
        return {"ns_per_day": round(day_ns / (seconds / steps), 3),
                "us_per_atom_step": round(1e6 * seconds / steps / len(atoms), 2)}

    return {"atoms": len(atoms), "level": 16, "steps": steps, "pair_style_mtp": route(plugin),
            "fix_external": route(external), "speedup": round(external / plugin, 2)}


if __name__ == "__main__":
    print(json.dumps(main("--quick" in sys.argv), indent=1))
