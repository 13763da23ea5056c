"""The run directory: atomic writes, the lock, the state file, strict JSON results."""

import json
import os
import subprocess
import sys

import pytest

from lotf.errors import RunDirectoryBusy
from lotf.store import RunDir, atomic_write


def test_atomic_write_leaves_old_file_when_writer_fails(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")

    def broken(handle):
        handle.write("half of the new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]  # no temporary left behind


def test_state_round_trip(tmp_path):
    run = RunDir(tmp_path / "run")
    assert run.read_state()["stages"] == {}
    with run.locked():
        run.write_state({"stage": "bootstrap", "stages": {"bootstrap": {"status": "done"}},
                         "generation": 2, "converged": False})
    state = run.read_state()
    assert state["generation"] == 2 and state["stages"]["bootstrap"]["status"] == "done"
    assert "updated" in state


def test_second_lock_is_refused_with_owner(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.locked(), pytest.raises(RunDirectoryBusy, match=f"pid {os.getpid()}"), \
            RunDir(tmp_path / "run").locked():
        pass
    with run.locked():  # released after the first block ended
        pass


def test_lock_released_when_holder_is_killed(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from lotf.store import RunDir\n"
         "with RunDir(sys.argv[1]).locked():\n    print('locked', flush=True); time.sleep(60)",
         str(tmp_path / "run")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunDirectoryBusy), RunDir(tmp_path / "run").locked():
        pass
    holder.kill()
    holder.wait()
    with RunDir(tmp_path / "run").locked():
        pass


def test_lock_holds_when_its_file_is_deleted(tmp_path):
    """The audit's second writer got in after `rm .lock`: the lock is on the directory itself."""
    run = RunDir(tmp_path / "run")
    with run.locked():
        (run.path / ".lock").unlink()
        with pytest.raises(RunDirectoryBusy), RunDir(tmp_path / "run").locked():
            pass
        (run.path / ".lock").write_text("")  # a file made anew changes nothing either
        with pytest.raises(RunDirectoryBusy), RunDir(tmp_path / "run").locked():
            pass


def test_results_are_strict_json_with_a_note_for_what_is_not_a_number(tmp_path):
    from lotf.report import add_result

    run = RunDir(tmp_path / "run")
    add_result(run, "fit", {"chi2": float("nan"), "se": [1.0, float("inf")], "ok": 2.5})
    text = (run.path / "results.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in results.json"))
    fit = json.loads(text)["fit"]
    assert fit["chi2"] is None and "not a finite number (nan)" in fit["chi2_note"]
    assert fit["se"] == [1.0, None] and fit["ok"] == 2.5
