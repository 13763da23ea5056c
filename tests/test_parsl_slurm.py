"""Oracle calls through Parsl, on this machine and as jobs of a real Slurm; the batch script
killed at its time limit and requeued to completion.

The Slurm tests need a running cluster (drivers/ci/start-slurm.sh starts a single-node one);
without it they skip with the reason, unless LOTF_SLURM=1 (CI sets it): then they fail.
"""

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from slurm import slurm, wait_for

from lotf.labelling import label
from lotf.ledger import Ledger
from lotf.oracle.settings import Oracle

from conftest import cu_cells, emt_campaign, processes_naming
from oracles import count_calls

ROOT = Path(__file__).parent.parent
pytest.importorskip("parsl", reason="the parsl executor needs Parsl (pip install parsl)")


def run_campaign(config: Path, workdir: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lotf", "run", str(config), "--workdir",
                           str(workdir)], env=env, capture_output=True, text=True, timeout=600)


def labels(workdir: Path) -> list[tuple]:
    """The run's labelled configurations as (positions, energy, forces), in a fixed order."""
    rows = []
    for row in Ledger(workdir / "ledger.db").labelled():
        rows.append((row.positions.round(8).tobytes(), row.get_potential_energy(),
                     row.get_forces().round(10).tobytes()))
    return sorted(rows)


def with_executor(config: Path, **parsl) -> Path:
    """The campaign file, its oracle on the parsl executor with these settings."""
    data = yaml.safe_load(config.read_text())
    data["oracle"].update(executor="parsl", parsl=parsl)
    path = config.with_name("parsl.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("provider", ["local", "slurm"])
def test_a_campaign_on_parsl_labels_what_the_local_executor_labels(
        tmp_path, counter, env_with_tests, provider):
    if provider == "slurm":
        slurm()
    config = emt_campaign(tmp_path, counter, count=6)
    reference = run_campaign(config, tmp_path / "pool", env_with_tests)
    assert reference.returncode == 0, reference.stderr
    calls = count_calls(counter)
    parsl = run_campaign(with_executor(config, provider=provider, walltime="10 min"),
                         tmp_path / provider, env_with_tests)
    assert parsl.returncode == 0, parsl.stderr
    assert count_calls(counter) == 2 * calls == 12  # every configuration asked once, each run
    assert labels(tmp_path / provider) == labels(tmp_path / "pool")
    assert (tmp_path / provider / "oracle" / "parsl").is_dir()  # Parsl's logs, in the run


def test_a_call_lost_with_its_slurm_job_is_retried(tmp_path, counter, monkeypatch,
                                                   env_with_tests):
    slurm()
    monkeypatch.setenv("PYTHONPATH", env_with_tests["PYTHONPATH"])  # the jobs import `oracles`
    oracle = Oracle.model_validate({
        "calculator": "oracles:CountingEMT", "params": {"counter": counter, "delay": 4},
        "workers": 1, "timeout": "60 s", "max_attempts": 2, "executor": "parsl",
        "parsl": {"provider": "slurm", "walltime": "10 min", "lost_after": "10 s"}})
    before = set(_jobs())
    cancelled: list[str] = []

    def cancel_the_first_job() -> None:
        while count_calls(counter) == 0:
            time.sleep(0.2)
        cancelled.extend(set(_jobs()) - before)
        subprocess.run(["scancel", *cancelled], check=True)

    threading.Thread(target=cancel_the_first_job, daemon=True).start()
    ledger = Ledger(tmp_path / "ledger.db")
    report = label(cu_cells(3), ledger, oracle, tmp_path / "calls", "test")
    assert cancelled, "no Slurm job ran the calls"
    assert (report.labelled, report.quarantined, report.failed_calls) == (3, 0, 1)
    counts = Ledger(tmp_path / "ledger.db").call_counts()
    assert (counts["ok"], counts["failed"], len(ledger)) == (3, 1, 3)


def _jobs() -> list[str]:
    listed = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
    return listed.stdout.split()


def test_the_batch_script_requeued_at_its_time_limit_ends_with_the_uninterrupted_ledger(
        tmp_path, counter, env_with_tests):
    """20 calls of 2 s in a job with a 1-minute limit and SIGTERM 40 s before it (Slurm sends
    it 20-35 s in): lotf stops, the script requeues the job, and the last run ends with what
    one run without a limit labels."""
    slurm()
    config = emt_campaign(tmp_path, counter, count=20, workers=1, delay=2.0)
    output = tmp_path / "job.out"
    environment = {**env_with_tests, "CONFIG": str(config), "WORKDIR": str(tmp_path / "job"),
                   "LOTF": f"{sys.executable} -m lotf"}
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--time=1", "--signal=B:TERM@40", "--cpus-per-task=1",
         f"--output={output}", "--export=ALL", str(ROOT / "drivers" / "slurm.sbatch")],
        env=environment, capture_output=True, text=True, check=True, cwd=tmp_path)
    job = submitted.stdout.strip().split(";")[0]
    state, restarts = wait_for(job, timeout=600)
    log = output.read_text() if output.is_file() else ""
    assert state == "COMPLETED", log
    assert restarts >= 1 and "requeueing job" in log, log
    assert "interrupted; run the same command again to resume" in log
    (tmp_path / "reference").mkdir()
    reference = emt_campaign(tmp_path / "reference", str(tmp_path / "reference-calls.txt"),
                             count=20, workers=1, delay=0.0)
    done = run_campaign(reference, tmp_path / "uninterrupted", env_with_tests)
    assert done.returncode == 0, done.stderr
    assert labels(tmp_path / "job") == labels(tmp_path / "uninterrupted")
    ledger = Ledger(tmp_path / "job" / "ledger.db")
    assert len(ledger) == len(ledger.labelled()) == 20  # every configuration once, all ok


def test_sigterm_stops_a_parsl_campaign_at_once_and_it_resumes(tmp_path, counter, env_with_tests):
    config = with_executor(emt_campaign(tmp_path, counter, count=8, delay=2.0), provider="local")
    command = [sys.executable, "-m", "lotf", "run", str(config), "--workdir", str(tmp_path / "run")]
    process = subprocess.Popen(command, env=env_with_tests, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while count_calls(counter) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    start = time.monotonic()
    process.send_signal(15)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert time.monotonic() - start < 10
    assert processes_naming(tmp_path) == []
    done = run_campaign(config, tmp_path / "run", env_with_tests)
    assert done.returncode == 0, done.stderr
    assert len(Ledger(tmp_path / "run" / "ledger.db").labelled()) == 8
