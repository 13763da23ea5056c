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

    environment = {**os.environ, **{v: str(threads) for v in
                                    ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "lotf.oracle.remote", workdir],
                             env=environment, start_new_session=True)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_tree(child.pid)
        child.wait()
        return CallOutcome(error=f"timed out after {timeout:g} s", wall_time=timeout)
    finally:
        if child.poll() is None:  # the worker itself is being stopped
            kill_tree(child.pid)
    reply = Path(workdir) / OUTCOME
    if not reply.is_file():
        how = f"killed by signal {-child.returncode}" if child.returncode < 0 \
            else f"exit code {child.returncode}"
        return CallOutcome(error=f"oracle process died without a result ({how})",
                           wall_time=time.monotonic() - start)
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
