"""The `oracle:` section of a campaign: which calculator labels, with what settings, on how
many workers, ranks and threads, through which executor (and Parsl's, if that one)."""

import importlib.util
import os
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from lotf.model import Strict
from lotf.quantities import ExecutorName, WallSeconds


def available_cores() -> int:
    """The cores this process may use: a Slurm job's CPUs per task, else its CPU affinity."""
    for variable in ("SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return len(os.sched_getaffinity(0))


class ParslSettings(Strict):
    """Where Parsl runs the oracle calls (`oracle.executor: parsl`): this machine, or Slurm jobs."""

    provider: Literal["local", "slurm"] = "local"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    nodes_per_block: PositiveInt = Field(1, le=100_000, description="nodes per Slurm job")
    max_blocks: PositiveInt = Field(1, le=100_000, description="Slurm jobs at once")
    walltime: WallSeconds = Field(3600.0, le=30 * 86400.0, description="of each Slurm job")
    exclusive: bool = Field(False, description="ask Slurm for whole nodes")
    scheduler_options: str | None = Field(None, description="extra '#SBATCH ...' lines")
    worker_init: str | None = Field(None, description="shell lines each job runs first "
                                    "(module load ...); lotf puts its Python on PATH itself")
    address: str | None = Field(None, description="the campaign's address the jobs connect "
                                "to (default: Parsl's choice among this host's addresses)")
    lost_after: WallSeconds = Field(60.0, ge=2.0, le=86400.0, description="a job silent this "
                                    "long has lost its calls, which are retried")


class Oracle(Strict):
    """The reference calculator: a short name or 'module:Class', its keyword parameters, and limits."""

    calculator: str = "tblite"
    params: dict[str, Any] = Field(default_factory=dict)
    workers: PositiveInt = Field(1, le=4096, description="calls at once; 'auto': the cores this "
                                 "process may use (a Slurm job's SLURM_CPUS_PER_TASK) divided by "
                                 "threads_per_worker x ranks")
    threads_per_worker: PositiveInt = Field(1, le=1024)
    timeout: WallSeconds = Field(3600.0, le=30 * 86400.0, description="wall time allowed per call")
    max_attempts: PositiveInt = Field(2, le=100,
                                      description="tries before a configuration is quarantined")
    ranks: PositiveInt = Field(1, le=100_000, description="MPI ranks per call (workers x ranks "
                               "is what a node runs)")
    launcher: str | None = Field(None, min_length=1, description="how ranks are started, with "
                                 "{ranks}: e.g. 'mpiexec -n {ranks}', 'srun -n {ranks}' "
                                 "(default: the code's own)")
    reuse_calculator: bool | None = Field(
        None, description="keep one calculator per worker for calls with the same settings, "
        "reset between calls (default: the code's own choice)")
    executor: ExecutorName = Field(
        "local", description="local: worker processes of the campaign; parsl: Parsl apps, on "
        "this machine or as Slurm jobs (`parsl:`); mpi: groups of `ranks` ranks of the "
        "campaign's own MPI job (`workers` of them), started with it by mpiexec or srun")
    parsl: ParslSettings = ParslSettings()

    @model_validator(mode="before")
    @classmethod
    def _auto_workers(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("workers") != "auto":
            return data
        if (data.get("parsl") or {}).get("provider") == "slurm" and data.get("executor") == "parsl":
            raise ValueError("workers: auto counts this node's cores; with Parsl's Slurm jobs "
                             "give the calls per node of those jobs")
        if data.get("executor") == "mpi":
            raise ValueError("workers: auto counts this node's cores; with executor mpi give "
                             "the number of oracle groups the MPI job starts")
        try:
            per_call = int(data.get("threads_per_worker", 1)) * int(data.get("ranks", 1))
        except (TypeError, ValueError):
            return data  # the fields' own checks will name what is wrong
        return {**data, "workers": max(1, available_cores() // max(1, per_call))}

    @field_validator("calculator")
    @classmethod
    def _available(cls, name: str) -> str:
        from lotf.oracle.calculators import check_available

        check_available(name)
        return name

    @field_validator("launcher")
    @classmethod
    def _launcher(cls, launcher: str | None) -> str | None:
        if launcher is not None:
            try:
                launcher.format(ranks=1)
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(f"the launcher may name only {{ranks}} ({error})") from None
        return launcher

    @field_validator("executor")
    @classmethod
    def _executor(cls, executor: str) -> str:
        if executor == "parsl" and importlib.util.find_spec("parsl") is None:
            raise ValueError("the parsl executor needs Parsl: pip install parsl")
        return executor

    @model_validator(mode="after")
    def _parallel(self) -> "Oracle":
        from lotf.oracle.calculators import resolve
        from lotf.oracle.code import SERIAL

        code = resolve(self.calculator)
        if self.ranks > 1 and code.mpi == SERIAL:
            raise ValueError(f"calculator '{self.calculator}' runs on one process: ranks must "
                             "be 1 (threads_per_worker gives it more cores)")
        if self.executor == "mpi" and self.ranks > 1 and code.group_keyword is None:
            raise ValueError(f"executor mpi runs a call on several ranks of lotf's own MPI job, "
                             f"which calculator '{self.calculator}' cannot (it takes no MPI "
                             "communicator): use ranks: 1, or executor local with a launcher")
        if self.executor == "mpi" and self.launcher is not None:
            raise ValueError("executor mpi runs the calls on ranks the MPI job already has: "
                             "it uses no launcher")
        return self
