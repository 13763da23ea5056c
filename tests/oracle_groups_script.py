"""Run under `mpiexec -n N`: rank 0 labels structures through lotf.labelling with
`oracle.executor: mpi`, the other ranks serving the calls in groups (lotf.oracle.mpi_pool).
Usage: oracle_groups_script.py DIR (DIR holds job.pickle: (oracle settings, structures);
the ledger is DIR/ledger.db)."""

import pickle
import sys
from pathlib import Path

from lotf.labelling import label
from lotf.ledger import Ledger
from lotf.md import groups
from lotf.oracle.settings import Oracle

folder = Path(sys.argv[1])
with open(folder / "job.pickle", "rb") as handle:
    settings, structures = pickle.load(handle)
# the other ranks serve here; they never import the code before their first call (GPAW takes
# its MPI from the environment lotf sets then)
job = groups.join(lambda: groups.Layout(1, settings["workers"], settings.get("ranks", 1)))
oracle = Oracle.model_validate({**settings, "executor": "mpi"})
label(structures, Ledger(folder / "ledger.db"), oracle, folder / "calls", "test")
job.finish(0)
