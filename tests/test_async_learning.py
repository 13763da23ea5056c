"""`active_learning.asynchronous`: while a break's selection is labelled by a slow oracle, the
walkers that have not broken explore on; their candidates join the next selection, every label
is asked once, and a kill anywhere (labelling, exploring, selecting) resumes to convergence."""

import json

import pytest

from lotf.ledger import Ledger

from conftest import emt_campaign, run_lotf
from oracles import count_calls
from test_learn import LEARN, _kill_at_each, _status

WORKERS = 2


def async_campaign(tmp_path, asynchronous: bool = True):
    # short segments: rounds in which some walkers break and the others run clean, whose MD
    # goes on while the breakers' labels come (a round in which all break waits for them)
    nvt = {**LEARN["md"]["phases"][0], "length": "0.1 ps"}
    counter = str(tmp_path / "calls.txt")
    config = emt_campaign(tmp_path, counter, delay=0.5, count=4, workers=WORKERS, **{
        **LEARN, "active_learning": {"max_new": 4, "converge_after": "1 ps", "walkers": 3,
                                     "asynchronous": asynchronous},
        "md": {"dump_every": 25, "phases": [nvt]}, "stages": ["bootstrap", "learn"]})
    return config, counter


def assert_converged_with_each_label_once(workdir, counter, lost_per_kill=0, kills=0):
    """Converged; the ledger holds every call's answer once; calls beyond it are only those a
    SIGKILL cut in flight (asked again on resume), at most one per oracle worker and kill."""
    assert _status(workdir)["converged"] is True
    ledger = Ledger(workdir / "ledger.db")
    assert len(ledger) == len(ledger.labelled())
    assert len(ledger) <= count_calls(counter) <= len(ledger) + lost_per_kill * kills
    state = json.loads((workdir / "state.json").read_text())["learn"]
    assert state["pending_selection"] is None and state["harvest"] == []
    assert not list((workdir / "structures").glob("harvest-*"))  # used, then dropped


def test_walkers_explore_while_labels_come_and_their_candidates_join_the_next_selection(tmp_path):
    config, counter = async_campaign(tmp_path)
    done = run_lotf(config, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    log = (tmp_path / "run" / "logs" / "lotf.log").read_text()
    assert "while the walkers explore on" in log
    assert "exploring while the labels come" in log
    # what they found was kept; a later selection chooses among it if the next generation
    # still breaks there, else it is dropped at convergence (below: no harvest left)
    assert "candidates kept for the next selection" in log
    assert_converged_with_each_label_once(tmp_path / "run", counter)
    # the convergence rule holds: after the last generation, every walker ran 1 ps clean on it
    state = json.loads((tmp_path / "run" / "state.json").read_text())["learn"]
    assert state["converged_phases"] == {"nvt": pytest.approx(1.0)}
    final = f"gen-{_status(tmp_path / 'run')['generation']:04d}"
    trajectories = tmp_path / "run" / "trajectories" / "nvt"
    clean = [len(list(trajectories.glob(f"{final}-*-walker-{k}.extxyz"))) for k in range(3)]
    assert all(count >= 10 for count in clean), clean


KILLS = ["label:6", "segment:3", "select:2", "label:2", "generation:1", "segment:4"]


def test_killed_while_labelling_exploring_and_selecting_it_resumes_to_convergence(tmp_path):
    config, counter = async_campaign(tmp_path)
    workdir = tmp_path / "run"
    _kill_at_each(config, workdir, KILLS)
    assert_converged_with_each_label_once(workdir, counter,
                                          lost_per_kill=WORKERS, kills=len(KILLS))
