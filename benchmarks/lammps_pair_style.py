"""Graded MTP-MD in LAMMPS by coupling, in one run; prints JSON.

A 1000-atom Li3PS4-like cell (benchmarks/mtp_core.py's), a level-16 native MTP with random
coefficients scaled down so NVE MD from 300 K stays gentle (speed does not depend on their
values) and an active set, so the grade is computed every step as in a campaign; 1 fs steps,
one OpenMP thread per rank. Reported, as ns/day and µs per atom per step:
- lammps_only: `pair_style mtp grade` with `fix halt` on its grade, no Python in the run (the floor);
- pair_style: lotf's MD (`run_md`) through the pair style, its per-step hook included;
- fix_external: lotf's MD with the potential evaluated in Python;
- pair_style_2_ranks: lotf's MD through the pair style under `mpiexec -n 2`.
Ratios: hook_overhead = pair_style / lammps_only - 1, speedup_over_fix_external, and
mpi_speedup = pair_style / pair_style_2_ranks (the fix-external route cannot split the cell).
Usage: python benchmarks/lammps_pair_style.py [--quick]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mtp_core import SPECIES, cell

from lotf.lammps_plugins import plugin_path
from lotf.md.library import open_lammps
from lotf.md.run import MDSettings, run_md
from lotf.potential import _mtp, create, load

TIMESTEP_FS = 1.0
ATOMS, LEVEL = 1000, 16


def gentle_graded(atoms):
    """A level-16 MTP whose forces are small, with an active set from rattled copies of `atoms`."""
    potential = create(SPECIES[3], level=LEVEL, cutoff=5.0, min_dist=1.6, seed=0)
    parameters = potential.mtp.parameters()
    parameters[:len(potential.mtp.moment_coeffs)] *= 1e-8
    potential.set_parameters(parameters)
    rng = np.random.default_rng(1)
    copies = [atoms.copy() for _ in range(2)]
    for copy in copies:
        copy.positions += rng.normal(0, 0.1, copy.positions.shape)
    potential.update_active_set(copies, "neighbourhood")
    return potential


def lammps_only_seconds(potential, atoms, steps: int, directory: Path) -> float:
    """Wall time of `steps` graded NVE steps in LAMMPS alone, set-up excluded."""
    from ase.io import write

    data = directory / "cell.data"
    write(data, atoms, format="lammps-data", specorder=SPECIES[3], masses=True)
    lmp = open_lammps()
    for command in [f"plugin load {plugin_path()}", "units metal", "atom_style atomic",
                    f"read_data {data}", *potential.write_lammps_pair(directory),
                    "compute grade all pair mtp", "variable grade equal c_grade[1]",
                    "fix halt all halt 1 v_grade > 1e30 error continue",
                    f"timestep {TIMESTEP_FS / 1000}", "velocity all create 300 7 loop geom",
                    "fix nve all nve", "thermo 0", "run 1"]:
        lmp.command(command)
    start = time.perf_counter()
    lmp.command(f"run {steps}")
    seconds = time.perf_counter() - start
    lmp.close()
    return seconds


def run_md_seconds(potential, atoms, steps: int, coupling: str) -> float:
    """Wall time of `steps` graded NVE steps of lotf's MD, a 1-step run's set-up taken out (after
    a first run that starts MPI and fills caches)."""
    def timed(n: int) -> float:
        start = time.perf_counter()
        run_md(potential, atoms, MDSettings("nve", (300.0, 300.0), n, timestep_fs=TIMESTEP_FS,
                                            thermo_every=n, break_threshold=1e30,
                                            coupling=coupling))
        return time.perf_counter() - start

    timed(1)
    return timed(steps + 1) - timed(1)


def two_ranks_seconds(potential, atoms, steps: int, directory: Path) -> float:
    """`run_md_seconds` through the pair style on two MPI ranks (this file as the worker)."""
    from ase.io import write

    potential.save(directory / "potential")
    write(directory / "cell.extxyz", atoms)
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, __file__, "--worker",
                           str(directory), str(steps)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    return float(done.stdout.split()[-1])


def worker(directory: Path, steps: int) -> None:
    from ase.io import read

    seconds = run_md_seconds(load(directory / "potential"), read(directory / "cell.extxyz"),
                             steps, "pair_style")
    if int(os.environ.get("PMI_RANK", "0")) == 0:
        print(seconds)


def main(quick: bool) -> dict:
    _mtp.set_threads(1)
    steps = 20 if quick else 100
    atoms = cell(ATOMS, 3, seed=1000)
    potential = gentle_graded(atoms)
    with tempfile.TemporaryDirectory() as scratch:
        seconds = {"lammps_only": lammps_only_seconds(potential, atoms, steps, Path(scratch)),
                   "pair_style": run_md_seconds(potential, atoms, steps, "pair_style"),
                   "fix_external": run_md_seconds(potential, atoms, steps, "fix_external"),
                   "pair_style_2_ranks": two_ranks_seconds(potential, atoms, steps,
                                                           Path(scratch))}
    day_ns = 86400 * TIMESTEP_FS * 1e-6
    routes = {name: {"ns_per_day": round(day_ns / (s / steps), 3),
                     "us_per_atom_step": round(1e6 * s / steps / len(atoms), 2)}
              for name, s in seconds.items()}
    return {"atoms": len(atoms), "level": LEVEL, "steps": steps, "graded": True, **routes,
            "hook_overhead": round(seconds["pair_style"] / seconds["lammps_only"] - 1, 3),
            "speedup_over_fix_external": round(seconds["fix_external"] / seconds["pair_style"], 2),
            "mpi_speedup": round(seconds["pair_style"] / seconds["pair_style_2_ranks"], 2)}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        print(json.dumps(main("--quick" in sys.argv), indent=1))
