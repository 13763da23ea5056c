"""Oracle calls as Parsl apps: on this machine's cores, or as Slurm batch jobs (`oracle.executor:
parsl`). The same interface as OraclePool, so labelling and the ledger do not know which runs.

Each call is one app: the task is written into the call's directory in the run directory (a
cluster's shared file system), the app's worker runs it in a process of its own with the
timeout (lotf.oracle.remote) and returns the outcome; the campaign records it in the ledger.
A call lost with its batch job (the job killed, its node gone) comes back as a failed call and
is retried up to `max_attempts`, as any failed call. One Parsl DataFlowKernel serves the whole
campaign process, so Slurm blocks are not resubmitted for every labelling batch.
"""

import atexit
import concurrent.futures
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lotf.oracle.call import CallOutcome, CallTask
from lotf.oracle.remote import run_detached, write_task

LABEL = "lotf-oracle"
_KERNEL: dict = {}  # settings -> (dataflow kernel, app) for this process

if TYPE_CHECKING:  # the settings import the executors that import this
    from lotf.oracle.settings import Oracle, ParslSettings


class ParslPool:
    """Submit calls as Parsl apps; `completed()` yields (task, outcome) pairs as they finish."""

    def __init__(self, oracle: "Oracle", run_dir: Path):
        self.oracle = oracle
        self._app = _app(oracle, run_dir)
        self._running: dict[concurrent.futures.Future, CallTask] = {}

    def __enter__(self) -> "ParslPool":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def submit(self, task: CallTask) -> None:
        """Send a call to Parsl now (also while `completed()` iterates)."""
        write_task(task)
        future = self._app(str(task.workdir), self.oracle.timeout, self.oracle.threads_per_worker)
        self._running[future] = task

    def completed(self, timeout: float | None = None) -> Iterator[tuple[CallTask, CallOutcome]]:
        """Yield every submitted call's outcome as it finishes; with `timeout`, only those that
        finish within that many seconds."""
        end = None if timeout is None else time.monotonic() + timeout
        while self._running:
            left = None if end is None else max(0.0, end - time.monotonic())
            done, _ = concurrent.futures.wait(list(self._running), timeout=left,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            if not done:
                return
            for future in done:
                task = self._running.pop(future)
                try:
                    outcome = future.result()
                except Exception as error:  # the batch job, its worker or Parsl lost the call
                    outcome = CallOutcome(error=f"the call was lost by Parsl's worker "
                                                f"({type(error).__name__}: {error})")
                yield task, outcome

    def shutdown(self) -> None:
        """Forget unfinished calls (they stay unlabelled for a resume). Parsl cannot cancel a
        running app; its jobs, and the calls in them, stop when the kernel is cleaned up at
        exit (a call's process dies with its worker)."""
        self._running.clear()


def _app(oracle: "Oracle", run_dir: Path):
    """This process's Parsl app for these settings, loading Parsl's kernel the first time."""
    key = (oracle.parsl.model_dump_json(), oracle.workers, oracle.threads_per_worker,
           oracle.ranks)
    if key not in _KERNEL:
        import parsl

        _stop_kernel()  # settings changed within one process: start over
        kernel = parsl.load(_config(oracle, run_dir))
        _KERNEL[key] = (kernel, parsl.python_app(run_detached, executors=[LABEL],
                                                 data_flow_kernel=kernel))
    return _KERNEL[key][1]


@atexit.register
def _stop_kernel() -> None:
    """Clean up this process's Parsl kernel: its jobs are cancelled, its workers stop."""
    if not _KERNEL:
        return
    import parsl

    for kernel, _ in _KERNEL.values():
        kernel.cleanup()
        parsl.clear()
    _KERNEL.clear()


def _config(oracle: "Oracle", run_dir: Path):
    """Parsl's configuration: one HighThroughputExecutor on the chosen provider."""
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.launchers import SingleNodeLauncher, SrunLauncher
    from parsl.providers import LocalProvider, SlurmProvider

    settings: ParslSettings = oracle.parsl
    here = str(Path(sys.executable).parent)
    worker_init = f"export PATH={here}:$PATH; {settings.worker_init or ''}".strip()
    cores = oracle.threads_per_worker * oracle.ranks
    if settings.provider == "slurm":
        provider = SlurmProvider(
            partition=settings.partition, account=settings.account, qos=settings.qos,
            nodes_per_block=settings.nodes_per_block, init_blocks=1, min_blocks=0,
            max_blocks=settings.max_blocks, walltime=_hms(settings.walltime),
            scheduler_options=settings.scheduler_options or "", worker_init=worker_init,
            exclusive=settings.exclusive,
            launcher=SrunLauncher() if settings.nodes_per_block > 1 else SingleNodeLauncher())
    else:
        provider = LocalProvider(init_blocks=1, min_blocks=0, max_blocks=1,
                                 worker_init=worker_init)
    executor = HighThroughputExecutor(
        label=LABEL, provider=provider, cores_per_worker=cores,
        max_workers_per_node=oracle.workers, address=settings.address,
        heartbeat_threshold=max(2, round(settings.lost_after)),
        heartbeat_period=max(1, round(settings.lost_after / 6)),
        interchange_launch_cmd=[sys.executable, "-m", "parsl.executors.high_throughput.interchange"])
    return Config(executors=[executor], run_dir=str(run_dir / "parsl"), strategy="simple",
                  initialize_logging=True, retries=0)


def _hms(seconds: float) -> str:
    """Slurm's HH:MM:SS."""
    whole = int(round(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
