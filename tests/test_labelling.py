"""Labelling through the ledger: exactly once, failures recorded, kills lose only calls in flight."""

import os
import signal
import subprocess
import sys
import time

import pytest

from lotf.labelling import label
from lotf.ledger import FAILED, OK, QUARANTINED, Ledger, content_key
from lotf.oracle import fingerprint
from lotf.oracle.settings import Oracle

from conftest import cu_cells, emt_campaign
from oracles import count_calls


def _oracle(counter, **overrides) -> Oracle:
    settings = {"calculator": "oracles:CountingEMT", "params": {"counter": counter},
                "workers": 2, "timeout": "30 s", "max_attempts": 2}
    return Oracle.model_validate({**settings, **overrides})


def test_same_structures_twice_call_the_oracle_once_each(tmp_path, counter):
    structures = cu_cells(20)
    ledger = Ledger(tmp_path / "ledger.db")
    oracle = _oracle(counter)
    first = label(structures, ledger, oracle, tmp_path / "calls", "test")
    second = label(structures + structures[:5], Ledger(tmp_path / "ledger.db"), oracle,
                   tmp_path / "calls", "test")
    assert count_calls(counter) == 20
    assert (first.labelled, first.cached) == (20, 0)
    assert (second.labelled, second.cached) == (0, 25)
    assert len(Ledger(tmp_path / "ledger.db")) == 20


def test_labels_equal_a_direct_calculation(tmp_path, counter):
    from ase.calculators.emt import EMT

    structures = cu_cells(3)
    ledger = Ledger(tmp_path / "ledger.db")
    oracle = _oracle(counter)
    label(structures, ledger, oracle, tmp_path / "calls", "test")
    key = fingerprint(oracle.calculator, oracle.params)
    for atoms in structures:
        stored = ledger.get(content_key(atoms, key)).atoms
        atoms.calc = EMT()
        assert stored.get_potential_energy() == pytest.approx(atoms.get_potential_energy(),
                                                              abs=1e-12)
        assert abs(stored.get_forces() - atoms.get_forces()).max() < 1e-12
        assert abs(stored.get_stress() - atoms.get_stress()).max() < 1e-12


def test_failing_calls_are_recorded_and_the_batch_completes(tmp_path, counter):
    structures = cu_cells(10)
    faults = {1: "raise", 3: "nan", 5: "sleep", 7: "crash"}
    for index, fault in faults.items():
        structures[index].info["fault"] = fault
    ledger = Ledger(tmp_path / "ledger.db")
    # 10 s: a fresh worker importing ASE under a loaded machine's two test suites took over 2 s
    oracle = _oracle(counter, timeout="10 s", max_attempts=2)
    start = time.perf_counter()
    report = label(structures, ledger, oracle, tmp_path / "calls", "test")
    assert time.perf_counter() - start < 90  # the hour-long call was killed, twice, at 10 s
    assert (report.labelled, report.quarantined, report.failed_calls) == (6, 4, 8)
    assert count_calls(counter) == 6 + 2 * 4
    key = fingerprint(oracle.calculator, oracle.params)
    errors = {}
    for index, atoms in enumerate(structures):
        entry = ledger.get(content_key(atoms, key))
        if index in faults:
            assert (entry.status, entry.attempts) == (QUARANTINED, 2)
            errors[faults[index]] = entry.error
        else:
            assert entry.status == OK
    assert "SCF did not converge" in errors["raise"]
    assert "non-finite energy" in errors["nan"]
    assert "timed out after 10 s" in errors["sleep"]
    assert "died without a result" in errors["crash"]
    # a quarantined configuration is not asked again
    again = label(structures, ledger, oracle, tmp_path / "calls", "test")
    assert again.labelled == 0 and again.skipped == 4 and count_calls(counter) == 14


def test_failed_call_is_retried_on_the_next_batch(tmp_path, counter):
    atoms = cu_cells(1)[0]
    atoms.info["fault"] = "raise"
    ledger = Ledger(tmp_path / "ledger.db")
    label([atoms], ledger, _oracle(counter, max_attempts=1), tmp_path / "calls", "test")
    key = content_key(atoms, fingerprint("oracles:CountingEMT", {"counter": counter}))
    assert ledger.get(key).status == QUARANTINED
    # raising the attempt limit gives a quarantined structure no new chance...
    label([atoms], ledger, _oracle(counter, max_attempts=3), tmp_path / "calls", "test")
    assert count_calls(counter) == 1
    # ...while a merely failed one (attempts left) is retried where it stopped
    ledger.record(key, atoms, status=FAILED, attempts=1, wall_time=0, oracle={}, oracle_id="o",
                  source="t", error="x")
    del atoms.info["fault"]
    label([atoms], ledger, _oracle(counter, max_attempts=3), tmp_path / "calls", "test")
    entry = ledger.get(key)
    assert (entry.status, entry.attempts, count_calls(counter)) == (OK, 2, 2)


def test_a_worker_builds_its_calculator_once_and_labels_as_a_fresh_one(tmp_path, counter):
    from ase.calculators.emt import EMT

    structures = cu_cells(6)
    ledger = Ledger(tmp_path / "ledger.db")
    oracle = _oracle(counter, calculator="oracles:BuildCountingEMT", workers=1)
    label(structures, ledger, oracle, tmp_path / "calls", "test")
    assert count_calls(counter) == 6 and count_calls(counter + ".built") == 1
    key = fingerprint(oracle.calculator, oracle.params)
    for atoms in structures:  # reset between calls: nothing of one call reaches the next
        stored = ledger.get(content_key(atoms, key)).atoms
        atoms.calc = EMT()
        assert stored.get_potential_energy() == atoms.get_potential_energy()
        assert (stored.get_forces() == atoms.get_forces()).all()
    fresh = _oracle(counter, calculator="oracles:BuildCountingEMT", workers=1,
                    reuse_calculator=False, params={"counter": counter, "delay": 0.0})
    label(cu_cells(3, seed=1), ledger, fresh, tmp_path / "calls", "test")
    assert count_calls(counter) == 9 and count_calls(counter + ".built") == 1 + 3


def test_a_periodic_label_without_stress_is_a_failed_call(tmp_path):
    atoms = cu_cells(1)[0]
    ledger = Ledger(tmp_path / "ledger.db")
    oracle = Oracle(calculator="oracles:NoStressEMT", max_attempts=1)
    report = label([atoms], ledger, oracle, tmp_path / "calls", "test")
    entry = ledger.get(content_key(atoms, fingerprint(oracle.calculator, {})))
    assert report.quarantined == 1 and "gives no stress for a periodic cell" in entry.error
    atoms.pbc = False  # a molecule needs none
    assert label([atoms], ledger, oracle, tmp_path / "calls", "test").labelled == 1


def _rows_now(path) -> int:
    """Rows in a ledger another process is writing (0 while it cannot be read whole: SQLite
    may be locked, or ASE may meet a row being written)."""
    try:
        return len(Ledger(path)) if path.exists() else 0
    except Exception:
        return 0


def test_sigkill_during_labelling_then_rerun_labels_only_what_is_missing(
        tmp_path, counter, env_with_tests):
    config = emt_campaign(tmp_path, counter, delay=0.4, count=16, workers=2)
    command = [sys.executable, "-m", "lotf", "run", str(config), "--workdir", str(tmp_path / "run")]
    process = subprocess.Popen(command, env=env_with_tests, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    ledger_file = tmp_path / "run" / "ledger.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until some, not all, labels are in
        if 5 <= _rows_now(ledger_file) < 16:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the campaign did not start labelling")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(Ledger(ledger_file))
    calls_before = count_calls(counter)
    assert 5 <= done_before < 16
    assert calls_before - done_before <= 2 + 1  # at most the calls in flight (plus one starting)

    rerun = subprocess.run(command, env=env_with_tests, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    ledger = Ledger(ledger_file)
    assert len(ledger) == 16 and ledger.call_counts()["ok"] == 16
    assert count_calls(counter) - calls_before == 16 - done_before


def test_no_oracle_process_outlives_a_killed_campaign(tmp_path, counter, env_with_tests):
    config = emt_campaign(tmp_path, counter, delay=60, count=2, workers=2)
    process = subprocess.Popen(
        [sys.executable, "-m", "lotf", "run", str(config), "--workdir", str(tmp_path / "run")],
        env=env_with_tests, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while count_calls(counter) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = _call_pids(counter)
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)  # both calls are running
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(1.0)
    assert not [pid for pid in pids if _alive(pid)], "orphaned oracle processes"


def _call_pids(counter) -> set[int]:
    return {int(pid) for pid in open(counter).read().split()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, merely not yet reaped
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_the_fingerprint_is_the_level_of_theory_alone():
    """Launch settings (rank count, command, output files) never strand the labels; a change of
    theory does; and campaigns without launch settings keep the keys their ledgers hold."""
    assert fingerprint("cp2k", {"command": "mpiexec -n 2 cp2k_shell.psmp"}) == \
        fingerprint("cp2k", {"command": "srun -n 64 cp2k_shell.psmp"}) == fingerprint("cp2k", {})
    assert fingerprint("gpaw", {"txt": "out.txt", "parallel": {"domain": 2}}) == \
        fingerprint("gpaw", {})
    assert fingerprint("gpaw", {"xc": "PBEsol"}) != fingerprint("gpaw", {})
    assert fingerprint("tblite", {"method": "GFN1-xTB", "electronic_temperature": 1000.0}) == \
        "a599c50f70becba6a43e25ce3ab946ff0a78e5c0f793da619895b08a59493ed8"  # the demo's, before
    assert fingerprint("emt", {}) == \
        "7568960b6c7793bf86bae76a2c445d3d429dc595b1ec8a53586617821d2d2598"
