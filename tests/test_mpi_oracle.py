"""`oracle.executor: mpi`: oracle calls on groups of the campaign's own MPI ranks. A real GPAW
call on a group of two ranks gives the one-rank label; one-rank groups run their calls in
processes they kill past the timeout; a campaign converges with every label once; a launch
that cannot hold the groups, or none at all, is refused in one line before any call."""

import pickle
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_dft_codes import SMALL_GPAW, gpaw_setups, label_once, li3ps4  # noqa: F401
from test_mpi_campaign import TWO_WALKERS, assert_exactly_once, assert_once_but_lost_in_flight, launch

from lotf.ledger import OK, Ledger

from conftest import cu_cells, emt_campaign, processes_naming, run_job
from oracles import count_calls, serving_ranks
from test_learn import _status

pytest.importorskip("mpi4py", reason="oracle calls on MPI ranks need mpi4py")
from lotf.md.ranks import mpiexec  # noqa: E402  (after the skip: it needs the MPI wheel)

SCRIPT = Path(__file__).parent / "oracle_groups_script.py"


def label_on_groups(folder: Path, ranks: int, settings: dict, structures: list, env: dict
                    ) -> Ledger:
    """Label `structures` through lotf.labelling from rank 0 of an mpiexec of `ranks`, the
    other ranks serving as oracle groups; the ledger."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.pickle").write_bytes(pickle.dumps((settings, structures)))
    done = run_job([mpiexec(), "-n", str(ranks), sys.executable, str(SCRIPT), str(folder)],
                   timeout=300, env={**env, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return Ledger(folder / "ledger.db")


def test_gpaw_on_a_group_of_two_ranks_of_the_job_gives_the_one_rank_label(
        tmp_path, gpaw_setups, env_with_tests):  # noqa: F811
    _, key, alone = label_once(tmp_path, "alone", calculator="gpaw", params=SMALL_GPAW)
    settings = {"calculator": "gpaw", "params": SMALL_GPAW, "workers": 1, "ranks": 2,
                "max_attempts": 1}
    ledger = label_on_groups(tmp_path / "group", 3, settings, [li3ps4()],
                             {**env_with_tests, "GPAW_SETUP_PATH": "/usr/share/gpaw-setups"})
    entry = ledger.get(key)  # the same key: the communicator is a launch setting
    assert alone.status == entry.status == OK, (alone.error, entry.error)
    first, second = alone.atoms, entry.atoms
    assert abs(first.get_potential_energy() - second.get_potential_energy()) < 1e-6
    assert abs(first.get_forces() - second.get_forces()).max() < 1e-4
    assert abs(first.get_stress() - second.get_stress()).max() < 1e-6
    text = next((tmp_path / "group" / "calls").glob("*/attempt-1/gpaw.txt")).read_text()
    assert "Total number of cores used: 2" in text  # both ranks of the group computed


def test_one_rank_groups_label_on_their_ranks_and_kill_a_call_past_its_timeout(
        tmp_path, counter, env_with_tests):
    cells = cu_cells(4)
    cells[1].info["fault"] = "sleep"  # an hour, unless killed
    # 20 s: an ordinary call (a new process importing ASE) took over 3 s on a loaded 2-core
    # machine and was killed too; the sleeping call is still far past it
    settings = {"calculator": "oracles:CountingEMT", "params": {"counter": counter},
                "workers": 2, "timeout": "20 s", "max_attempts": 1}
    ledger = label_on_groups(tmp_path / "run", 3, settings, cells, env_with_tests)
    assert len(ledger) == 4 and len(ledger.labelled()) == 3
    [(key, _, _)] = ledger.quarantined()
    assert "timed out after 20 s" in ledger.get(key).error
    assert count_calls(counter) == 4 and set(serving_ranks(counter)) == {"1", "2"}
    assert processes_naming(tmp_path) == []  # the sleeping call's process was killed


def test_a_campaign_with_oracle_calls_on_its_ranks_converges_with_every_label_once(
        tmp_path, counter, env_with_tests):
    config = emt_campaign(tmp_path, counter, count=4, **TWO_WALKERS)
    campaign = yaml.safe_load(config.read_text())
    campaign["oracle"]["executor"] = "mpi"
    config.write_text(yaml.safe_dump(campaign, sort_keys=False))
    done = launch(4, config, tmp_path / "run", env_with_tests)  # controller, 2 oracle, 1 MD
    output, _ = done.communicate(timeout=600)
    assert done.returncode == 0, output[-3000:]
    assert _status(tmp_path / "run")["converged"] is True
    assert_exactly_once(tmp_path / "run", counter)
    assert set(serving_ranks(counter)) == {"1", "2"}  # never the controller or the MD rank
    assert processes_naming(tmp_path) == []


@pytest.mark.parametrize("ranks, expected", [
    (1, "oracle.executor: mpi runs the oracle calls on ranks of lotf's own MPI job, but lotf "
        "run was started as one process"),
    (2, "lotf run has 2 MPI ranks, but runs as one controller, oracle groups of 1 rank "
        "(oracle.workers = 2, oracle.ranks = 1) and groups of md.ranks = 1: start it on 3, 4, "
        "... ranks")])
def test_a_launch_that_cannot_hold_the_oracle_groups_is_refused_before_any_call(
        tmp_path, counter, env_with_tests, ranks, expected):
    config = emt_campaign(tmp_path, counter, count=4, **TWO_WALKERS)
    campaign = yaml.safe_load(config.read_text())
    campaign["oracle"]["executor"] = "mpi"
    config.write_text(yaml.safe_dump(campaign, sort_keys=False))
    command = [sys.executable, "-m", "lotf", "run", str(config), "--workdir",
               str(tmp_path / "run")]
    done = run_job(command if ranks == 1 else [mpiexec(), "-n", str(ranks), *command],
                   timeout=120, env=env_with_tests)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lotf: error: " + expected), lines
    assert count_calls(counter) == 0


def test_sigterm_while_the_oracle_ranks_label_stops_the_job_and_it_resumes(
        tmp_path, counter, env_with_tests):
    config = emt_campaign(tmp_path, counter, count=4, delay=2.0, **TWO_WALKERS)
    campaign = yaml.safe_load(config.read_text())
    campaign["oracle"]["executor"] = "mpi"
    config.write_text(yaml.safe_dump(campaign, sort_keys=False))
    log = tmp_path / "run" / "logs" / "lotf.log"
    process = launch(4, config, tmp_path / "run", env_with_tests, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None and \
            "labelling" not in (log.read_text() if log.is_file() else ""):
        time.sleep(0.1)
    time.sleep(1.0)  # the calls are in their processes on the oracle ranks
    assert process.poll() is None and count_calls(counter) >= 1
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output[-3000:]
    assert "MPI_Abort" not in output  # the oracle ranks killed their calls when told to stop
    assert processes_naming(tmp_path) == []
    done = launch(4, config, tmp_path / "run", env_with_tests)
    output, _ = done.communicate(timeout=600)
    assert done.returncode == 0, output[-3000:]
    assert _status(tmp_path / "run")["converged"] is True
    assert_once_but_lost_in_flight(tmp_path / "run", counter)
