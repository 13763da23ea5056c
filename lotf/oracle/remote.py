"""One oracle call in a process of its own, for executors that run calls away from the
campaign (Parsl on a batch job's node): `python -m lotf.oracle.remote DIR`.

The task and the outcome travel as files in the call's working directory (on the shared file
system a cluster's run directory lives on); `run_detached` is what the executor's worker runs:
it starts the call in a new session, kills it with every process below it past the timeout,
and returns the outcome the call wrote (or a failure saying why there is none).
"""

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

TASK, OUTCOME = "remote-task.pickle", "remote-outcome.pickle"


def write_task(task) -> None:
    """Put the task where its call's process will read it."""
    task.workdir.mkdir(parents=True, exist_ok=True)
    (task.workdir / OUTCOME).unlink(missing_ok=True)
    with open(task.workdir / TASK, "wb") as handle:
        pickle.dump(task, handle)


def run_detached(workdir: str, timeout: float, threads: int):
    """Run the call in `workdir` in a child process; its CallOutcome (run by the executor's worker)."""
    from lotf.oracle.call import CallOutcome
    from lotf.oracle.pool import kill_tree

    start = time.monotonic()
    child = start_call(workdir, threads)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_tree(child.pid)
        child.wait()
        return CallOutcome(error=f"timed out after {timeout:g} s", wall_time=timeout)
    finally:
        if child.poll() is None:  # the worker itself is being stopped
            kill_tree(child.pid)
    return outcome_of(workdir, child.returncode, time.monotonic() - start)


# what an MPI launcher tells its ranks: a call's process started by a rank must not take them
# for its own, or a code that starts MPI (GPAW) would join the rank's job
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "HYDI_", "HYDRA_", "MPI_LOCAL", "OMPI_")


def start_call(workdir: str, threads: int) -> subprocess.Popen:
    """The call's process: a new session (killed with everything below it), `threads` threads."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(LAUNCHER_PREFIXES)}
    environment.update({v: str(threads) for v in
                        ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    return subprocess.Popen([sys.executable, "-m", "lotf.oracle.remote", workdir],
                            env=environment, start_new_session=True)


def outcome_of(workdir: str, returncode: int, wall_time: float):
    """The outcome the call's process wrote, or a failure saying how it ended without one."""
    from lotf.oracle.call import CallOutcome

    reply = Path(workdir) / OUTCOME
    if not reply.is_file():
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        return CallOutcome(error=f"oracle process died without a result ({how})",
                           wall_time=wall_time)
    with open(reply, "rb") as handle:
        return pickle.load(handle)


def main(workdir: Path) -> None:
    from lotf.oracle.call import die_with_parent, run_call

    die_with_parent()
    with open(workdir / TASK, "rb") as handle:
        task = pickle.load(handle)
    outcome = run_call(task)
    partial = workdir / (OUTCOME + ".part")
    with open(partial, "wb") as handle:
        pickle.dump(outcome, handle)
    os.replace(partial, workdir / OUTCOME)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main(Path(sys.argv[1]))
