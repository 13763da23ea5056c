"""The `lotf` command end to end on a small EMT campaign: run, resume, status, lock, failures."""

import json
import subprocess
import sys

from lotf.cli import main
from lotf.store import RunDir

from conftest import emt_campaign
from oracles import count_calls


def test_run_status_and_resume(tmp_path, counter, capsys):
    config = emt_campaign(tmp_path, counter, count=6)
    workdir = tmp_path / "run"
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    assert count_calls(counter) == 6
    capsys.readouterr()
    assert main(["status", str(workdir), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["stage"] == "bootstrap" and status["stages_done"] == ["bootstrap"]
    assert status["generation"] == 0 and status["converged"] is False
    assert status["oracle_calls"] == {"ok": 6, "failed": 0, "quarantined": 0, "imported": 0,
                                       "total": 6}
    assert status["stages"]["bootstrap"]["labelled"] == 6

    # running again, by config or by run directory, redoes nothing
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    assert main(["run", str(workdir)]) == 0
    assert count_calls(counter) == 6
    assert main(["status", str(workdir)]) == 0
    assert "6 (6 ok, 0 failed" in capsys.readouterr().out
    assert (workdir / "logs" / "lotf.log").read_text().count("stage bootstrap: already done") == 2


def test_killed_inside_a_stage_resumes_it(tmp_path, counter):
    config = emt_campaign(tmp_path, counter, count=4)
    run = RunDir(tmp_path / "run")
    with run.locked():  # as a kill would leave it: the stage started, not done
        run.write_state({"stage": "bootstrap", "generation": 0, "converged": False,
                         "stages": {"bootstrap": {"status": "running"}}})
    assert main(["run", str(config), "--workdir", str(run.path)]) == 0
    assert run.read_state()["stages"]["bootstrap"]["status"] == "done"
    assert count_calls(counter) == 4


def test_a_second_run_on_a_busy_directory_is_refused(tmp_path, counter, env_with_tests):
    config = emt_campaign(tmp_path, counter)
    with RunDir(tmp_path / "run").locked():
        done = subprocess.run(
            [sys.executable, "-m", "lotf", "run", str(config), "--workdir", str(tmp_path / "run")],
            env=env_with_tests, capture_output=True, text=True)
    assert done.returncode == 2
    assert "in use by another lotf process" in done.stderr and "Traceback" not in done.stderr
    assert count_calls(counter) == 0


def test_changed_config_is_kept_beside_the_new_one(tmp_path, counter):
    config = emt_campaign(tmp_path, counter, count=2)
    workdir = tmp_path / "run"
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    config.write_text(config.read_text().replace("count: 2", "count: 3"))
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    kept = list(workdir.glob("campaign.until-*.yaml"))
    assert len(kept) == 1 and "count: 2" in kept[0].read_text()
    assert "count: 3" in (workdir / "campaign.yaml").read_text()


def test_every_call_failing_stops_the_stage_with_exit_1(tmp_path, capsys):
    config = emt_campaign(tmp_path, "/nonexistent/dir/calls.txt", count=2)
    assert main(["run", str(config), "--workdir", str(tmp_path / "run")]) == 1
    assert "no structure could be labelled" in capsys.readouterr().err


def test_status_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "not a lotf run directory" in capsys.readouterr().err


def test_quarantined_configurations_are_retried_once_the_cause_is_fixed(tmp_path, capsys):
    """Every call fails (the oracle cannot write its counter); after the fix, `lotf retry`
    labels them, the ledger keeps the failed attempts, and the campaign goes on."""
    counter = tmp_path / "missing" / "calls.txt"
    config = emt_campaign(tmp_path, str(counter), count=3)
    workdir = tmp_path / "run"
    assert main(["run", str(config), "--workdir", str(workdir)]) == 1
    assert main(["run", str(config), "--workdir", str(workdir)]) == 1  # quarantine holds
    counter.parent.mkdir()
    capsys.readouterr()
    assert main(["retry", str(workdir)]) == 0
    assert "3 quarantined configuration(s) retried: 3 labelled, 0 quarantined again" in \
        capsys.readouterr().out
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    assert count_calls(str(counter)) == 3  # the retries; the bootstrap found them labelled
    calls = json.loads(capsys.readouterr().out if main(["status", str(workdir), "--json"]) == 0
                       else "{}")["oracle_calls"]
    assert calls == {"ok": 3, "failed": 6, "quarantined": 0, "imported": 0, "total": 9}
