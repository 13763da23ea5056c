"""Run under `mpiexec -n 3`: rank 0 hands one MD run to the group of ranks 1-2
(lotf.md.groups), as a campaign's controller does, and pickles the result.
Usage: groups_script.py DIR (DIR holds potential/ and input.pickle; result.pickle is written)."""

import pickle
import sys
from pathlib import Path

from lotf.md import groups
from lotf.md.run import run_md
from lotf.potential import load

folder = Path(sys.argv[1])
md_groups = groups.join(lambda: groups.Layout(2))  # the other ranks serve and exit here
with open(folder / "input.pickle", "rb") as handle:
    atoms, settings = pickle.load(handle)
result = run_md(load(folder / "potential"), atoms, settings, trajectory=folder / "group.extxyz")
(folder / "result.pickle").write_bytes(pickle.dumps(result))
md_groups.finish(0)
