"""`active_learning.max_iterations` bounds the breaks a phase learns from (EMT Cu, a break
threshold so low that no phase converges): by default the campaign stops with an error; with
`on_max_iterations: continue` each phase ends unconverged on a potential trained on every label
paid for, the next phase and stage run, and results.json and the state say so plainly."""

import json
from pathlib import Path

import pytest

from lotf.cli import main
from lotf.ledger import VALIDATION, Ledger

from conftest import emt_campaign, run_lotf

PHASES = [{"name": f"nvt-{n}", "ensemble": "nvt", "temperature": 1000, "length": "0.2 ps"}
          for n in ("a", "b")]


def _campaign(tmp_path: Path, **budget) -> Path:
    return emt_campaign(
        tmp_path, str(tmp_path / "calls.txt"), count=4,
        potential={"level": 8, "cutoff": 5.0,
                   "weights": {"energy": 1.0, "forces": 0.3, "stress": 0.0}},
        active_learning={"select_threshold": 1.0, "break_threshold": 1.05, "max_new": 2,
                         "converge_after": "5 ps", "max_iterations": 2, **budget},
        md={"dump_every": 1, "phases": PHASES}, validation={"frames": 50},
        stages=["bootstrap", "learn", "validate"])


@pytest.fixture(scope="module")
def continued(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("continued")
    done = run_lotf(_campaign(tmp, on_max_iterations="continue"), tmp / "run", 600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "run"


def test_each_phase_ends_unconverged_after_its_breaks_and_the_campaign_goes_on(continued):
    state = json.loads((continued / "state.json").read_text())
    learn = state["learn"]
    assert state["stages"]["learn"]["status"] == "done" and state["converged"] is False
    assert learn["converged_phases"] == {}
    assert set(learn["unconverged_phases"]) == {"nvt-a", "nvt-b"}
    assert learn["breaks"] == 4  # two per phase, then no MD on the last generation
    # the generation each phase ended on was trained on the labels of its last break
    ended_a, ended_b = learn["unconverged_phases"]["nvt-a"], learn["unconverged_phases"]["nvt-b"]
    assert ended_b > ended_a
    labelled = len(Ledger(continued / "ledger.db").labelled(keep=lambda s: s != VALIDATION))
    assert learn["generations"][str(ended_b)]["trained_on"] == labelled


def test_results_and_log_flag_every_unconverged_phase(continued):
    results = json.loads((continued / "results.json").read_text())["unconverged_phases"]
    assert results["max_iterations"] == 2 and set(results["phases"]) == {"nvt-a", "nvt-b"}
    assert len(results["flags"]) == 2
    assert all("did not converge" in flag for flag in results["flags"])
    log = (continued / "logs" / "lotf.log").read_text()
    assert "phase nvt-b did not converge" in log and "learning ended" in log


def test_the_validation_says_it_is_not_of_the_final_potential(continued):
    results = json.loads((continued / "results.json").read_text())
    validation, ended = results["validation"], results["unconverged_phases"]["phases"]["nvt-b"]
    assert validation["generation"] < ended
    assert any(f"ended unconverged on generation {ended}" in flag for flag in validation["flags"])


def test_status_names_the_unconverged_phases(continued, capsys):
    assert main(["status", str(continued)]) == 0
    line = next(text for text in capsys.readouterr().out.splitlines()
                if text.startswith("converged"))
    assert line.split(":", 1)[1].strip() == (
        "no (ended unconverged by active_learning.max_iterations: nvt-a, nvt-b)")


def test_by_default_a_phase_that_spends_its_breaks_stops_the_campaign(tmp_path):
    done = run_lotf(_campaign(tmp_path), tmp_path / "run", 600)
    assert done.returncode == 1
    assert "phase nvt-a: 2 breaks without converging" in done.stderr
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["stages"].get("learn", {}).get("status") != "done"
