"""Run by test_md under `mpiexec -n 2` and on one rank: the same MD through the coupling named
third, its trajectory to a file."""

import sys
from pathlib import Path

from ase.build import bulk

from lotf.md.run import MDSettings, run_md
from lotf.potential import load

potential = load(sys.argv[1])
start = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
start.rattle(0.05, seed=3)
result = run_md(potential, start, MDSettings("npt", (600.0, 600.0), 1000, pressure_bar=0.0,
                                             thermo_every=100, dump_every=50,
                                             coupling=sys.argv[3]),
                trajectory=Path(sys.argv[2]))
print("steps", result.steps)
