"""One oracle call on every rank of an MPI launch: `mpiexec -n N python -m lotf.oracle.ranks_call DIR`.

Every rank builds the calculator (GPAW splits the work over MPI's world); rank 0 writes the
outcome next to the task, atomically, so the worker reads a whole outcome or none.
"""

import os
import pickle
import sys
import time
import traceback
from pathlib import Path

from lotf.oracle.calculators import make_calculator, resolve
from lotf.oracle.call import RANK_OUTCOME, RANK_TASK, CallOutcome, label_with

RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def rank() -> int:
    """This process's rank in the launch, from the launcher's environment (0 if none says)."""
    return next((int(os.environ[v]) for v in RANK_VARIABLES if os.environ.get(v)), 0)


def main(workdir: Path) -> None:
    with open(workdir / RANK_TASK, "rb") as handle:
        task = pickle.load(handle)
    start = time.perf_counter()
    try:
        calc = make_calculator(task.calculator, task.params)
        outcome = label_with(calc, task, resolve(task.calculator))
    except Exception as error:  # a failure of the calculator is data, as in a one-rank call
        traceback.print_exc()
        outcome = CallOutcome(error=f"{type(error).__name__}: {error}".strip())
    outcome.wall_time = time.perf_counter() - start
    if rank() == 0:
        partial = workdir / (RANK_OUTCOME + ".part")
        with open(partial, "wb") as handle:
            pickle.dump(outcome, handle)
        os.replace(partial, workdir / RANK_OUTCOME)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
