"""The tests' way to a real Slurm: whether one answers here, and waiting for a job to end."""

import os
import shutil
import subprocess
import time

import pytest

REQUEUE_SETTLE = 5.0  # seconds a requeued job is left held before the test releases it

def slurm() -> None:
    """Skip (or fail under LOTF_SLURM=1) unless a Slurm cluster answers here."""
    reason = None
    if shutil.which("sbatch") is None:
        reason = "Slurm is not installed (no sbatch)"
    else:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
        if states.returncode or not {"idle", "mixed", "allocated"} & set(states.stdout.split()):
            reason = f"no Slurm node is up ({(states.stderr or states.stdout).strip()})"
    if reason:
        if os.environ.get("LOTF_SLURM") == "1":
            pytest.fail(f"LOTF_SLURM=1 but {reason}")
        pytest.skip(reason)


def wait_for(job: str, timeout: float) -> tuple[str, int]:
    """Poll Slurm until the job has ended (not requeued); its final state and restart count.
    Slurm holds a requeued job for two minutes (Reason=BeginTime); the test lets it start at
    once, as a scheduler with free nodes would after that wait."""
    deadline = time.monotonic() + timeout
    state, restarts, held_since = "UNKNOWN", 0, None
    while time.monotonic() < deadline:
        shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True)
        fields = dict(item.split("=", 1) for item in shown.stdout.split() if "=" in item)
        state, restarts = fields.get("JobState", state), int(fields.get("Restarts", restarts))
        if state in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"}:
            return state, restarts
        if state == "PENDING" and fields.get("Reason") == "BeginTime":
            # not at once: a job started while its last run's batch step still ends is killed
            # ("Job credential revoked")
            held_since = held_since or time.monotonic()
            if time.monotonic() - held_since > REQUEUE_SETTLE:
                subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"])
                held_since = None
        time.sleep(2)
    subprocess.run(["scancel", job])
    return f"still {state} after {timeout:g} s", restarts
