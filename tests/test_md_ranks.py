"""MD runs on several MPI ranks from a single-process campaign (lotf.md.ranks): the one-rank
run's result read back whole, a failed run's error surfaced, and a campaign that learns so."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_md import emt_cu, fitted, lattice

from lotf.errors import UserError
from lotf.md.ranks import RanksFailed
from lotf.md.run import MDSettings, run_md
from lotf.schema import load_config

from conftest import emt_campaign, run_lotf
from test_learn import LEARN, _status


@pytest.fixture(scope="module")
def narrow():
    return fitted(emt_cu(40, (0.01, 0.03), 0.0, seed=1))


def test_two_ranks_return_the_one_rank_result(narrow, tmp_path):
    settings = MDSettings("nvt", (1500.0, 1500.0), 5000, thermo_every=50, dump_every=1)
    one = run_md(narrow, lattice(), settings, trajectory=tmp_path / "one.extxyz")
    two = run_md(narrow, lattice(), MDSettings(**{**vars(settings), "ranks": 2}),
                 trajectory=tmp_path / "two.extxyz")
    assert one.halted and two.halted and two.break_step == one.break_step
    assert [a.info["step"] for a in two.candidates] == [a.info["step"] for a in one.candidates]
    assert two.restart.info["step"] == one.restart.info["step"]
    assert np.abs(two.final.positions - one.final.positions).max() < 1e-9
    assert np.abs(two.final.get_velocities() - one.final.get_velocities()).max() < 1e-9
    assert two.max_grade == pytest.approx(one.max_grade, rel=1e-9)
    assert two.thermo["temp"] == pytest.approx(one.thermo["temp"], rel=1e-9)
    assert (tmp_path / "two.extxyz").read_text().count("grade=") == one.steps + 1


def test_a_failed_run_on_ranks_says_why(narrow):
    settings = MDSettings("npt", (300.0, 300.0), 10, pressure_bar=0.0, barostat="sideways",
                          ranks=2)
    with pytest.raises(RanksFailed, match="MD on 2 MPI ranks failed: ValueError: unknown "
                       "barostat 'sideways'"):
        run_md(narrow, lattice(), settings)


def test_ranks_need_the_pair_style(tmp_path):
    config = emt_campaign(tmp_path, str(tmp_path / "calls.txt"),
                          md={"ranks": 2, "coupling": "fix_external"})
    with pytest.raises(UserError, match="md: ranks > 1 needs coupling: pair_style"):
        load_config(config)


def test_a_campaign_learns_with_md_on_two_ranks(tmp_path):
    config = emt_campaign(tmp_path, str(tmp_path / "calls.txt"), count=4,
                          **{**LEARN, "md": {**LEARN["md"], "ranks": 2}})
    done = run_lotf(config, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    status = _status(tmp_path / "run")
    assert status["converged"] is True and status["breaks"] >= 1
    assert json.loads((tmp_path / "run" / "results.json").read_text())["validation"]["frames"] == 12


def _descends_from_us(pid: int) -> bool:
    """Whether `pid` is a descendant of this test process (not another run's rank)."""
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
        if pid == os.getpid():
            return True
    return False


def _kill_a_rank_once(stop: threading.Event) -> None:
    """SIGKILL the first of our `lotf.md.ranks` processes seen, as the unexplained kills did."""
    while not stop.is_set():
        for entry in Path("/proc").iterdir():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if entry.name.isdigit() and b"lotf.md.ranks" in command and \
                    b"mpiexec" not in command and _descends_from_us(int(entry.name)):
                time.sleep(0.3)
                os.kill(int(entry.name), signal.SIGKILL)
                return
        time.sleep(0.02)


def test_ranks_killed_from_outside_are_run_again(narrow, tmp_path, caplog):
    """MD is deterministic: the run again gives the one-rank result."""
    settings = MDSettings("nvt", (300.0, 300.0), 6000, thermo_every=50, break_threshold=1e9)
    one = run_md(narrow, lattice(), settings)
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_rank_once, args=(stop,))
    killer.start()
    try:
        two = run_md(narrow, lattice(), MDSettings(**{**vars(settings), "ranks": 2}))
    finally:
        stop.set()
        killer.join()
    assert "a rank was killed from outside" in caplog.text
    assert two.steps == one.steps and np.abs(two.final.positions - one.final.positions).max() < 1e-6
