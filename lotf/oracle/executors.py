"""Where oracle calls run, by name (`oracle.executor`): each registered function opens a Pool
for the campaign's oracle settings and its calls folder. `local` is lotf.oracle.pool's worker
processes; Parsl and MPI are imported only when chosen.

Adding an executor is one function here (or in its own module) with `@register("name")`.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lotf.registry import registrar

EXECUTORS: dict[str, Callable[[Any, Path], Any]] = {}
register = registrar(EXECUTORS)


@register("local")
def _local(oracle: Any, calls_dir: Path) -> Any:
    """This campaign's own worker processes (lotf.oracle.pool)."""
    from lotf.oracle.pool import OraclePool

    return OraclePool(oracle.workers, oracle.timeout, oracle.threads_per_worker)


@register("parsl")
def _parsl(oracle: Any, calls_dir: Path) -> Any:
    """Parsl's apps: local processes or Slurm jobs (lotf.oracle.parsl_pool)."""
    from lotf.oracle.parsl_pool import ParslPool

    return ParslPool(oracle, calls_dir)


@register("mpi")
def _mpi(oracle: Any, calls_dir: Path) -> Any:
    """Groups of this MPI job's ranks (lotf.oracle.mpi_pool)."""
    from lotf.md import groups
    from lotf.oracle.mpi_pool import MpiPool

    job = groups.active()
    if job is None or job.oracle is None:
        raise RuntimeError("oracle.executor: mpi outside an MPI job (lotf.md.groups."
                           "check_launch should have refused it)")
    return MpiPool(job.oracle, oracle.timeout, oracle.threads_per_worker)


def open_pool(oracle: Any, calls_dir: Path) -> Any:
    """The pool `oracle.executor` names (lotf.oracle.executors): this campaign's worker
    processes, Parsl's apps, or groups of this MPI job's ranks."""
    return EXECUTORS[oracle.executor](oracle, calls_dir)
