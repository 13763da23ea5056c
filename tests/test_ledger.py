"""The ledger: content keys, rows, counts; and what `ase db` sees."""

import numpy as np
import pytest
from ase.io import read, write

from lotf.ledger import FAILED, OK, QUARANTINED, Ledger, content_key, oracle_id

from conftest import cu_cells


def test_key_survives_extxyz_round_trip(tmp_path):
    atoms = cu_cells(1)[0]
    write(tmp_path / "a.extxyz", atoms)
    again = read(tmp_path / "a.extxyz")
    write(tmp_path / "b.extxyz", again)
    twice = read(tmp_path / "b.extxyz")
    assert content_key(again, "o") == content_key(twice, "o")


def test_key_depends_on_content_and_oracle():
    atoms = cu_cells(1)[0]
    base = content_key(atoms, "o")
    moved = atoms.copy()
    moved.positions[3, 1] += 1e-6
    strained = atoms.copy()
    strained.set_cell(atoms.cell * 1.001)
    open_box = atoms.copy()
    open_box.pbc = [True, True, False]
    swapped = atoms.copy()
    swapped.numbers[0] = 47
    others = [content_key(a, "o") for a in (moved, strained, open_box, swapped)]
    assert len({base, *others, content_key(atoms, "p")}) == 6
    assert content_key(atoms.copy(), "o") == base


def test_rows_and_counts(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    a, b, c = cu_cells(3)
    forces = np.arange(96.0).reshape(32, 3)
    stress = np.arange(6.0)
    oracle = {"calculator": "emt", "params": {}}
    ledger.record("ka", a, status=OK, attempts=2, wall_time=1.5, oracle=oracle, oracle_id="o1", source="t",
                  energy=-1.25, forces=forces, stress=stress)
    ledger.record("kb", b, status=FAILED, attempts=1, wall_time=0.1, oracle=oracle,
                  oracle_id="o1", source="t", error="RuntimeError: SCF")
    ledger.record("kc", c, status=QUARANTINED, attempts=3, wall_time=0.1, oracle=oracle,
                  oracle_id="o1", source="t", error="timed out")
    reopened = Ledger(tmp_path / "ledger.db")
    assert len(reopened) == 3 and "kb" in reopened and "zz" not in reopened
    entry = reopened.get("ka")
    assert entry.status == OK and entry.attempts == 2
    assert entry.atoms.get_potential_energy() == -1.25
    np.testing.assert_array_equal(entry.atoms.get_forces(), forces)
    np.testing.assert_array_equal(entry.atoms.get_stress(), stress)
    np.testing.assert_array_equal(entry.atoms.positions, a.positions)
    assert reopened.get("kb").error == "RuntimeError: SCF"
    assert reopened.call_counts() == {"ok": 1, "failed": 1 + 1 + 3, "quarantined": 1,
                                     "imported": 0, "total": 6}
    assert len(reopened.labelled()) == 1


@pytest.mark.parametrize("fingerprint", ["5e07123456789012abcdef", "1234567890123456abcdef",
                                         "abcdef0123456789abcdef"])
def test_an_oracle_id_that_reads_as_a_number_is_stored(tmp_path, fingerprint):
    """ASE's database refuses key values that parse as numbers; an oracle fingerprint whose
    hex prefix does (1 in ~1000) must still label, and its labels be found by its id."""
    ledger = Ledger(tmp_path / "ledger.db")
    short = oracle_id(fingerprint)
    assert short != fingerprint[:16] or not fingerprint[0].isdigit()
    ledger.record(content_key(cu_cells(1)[0], fingerprint), cu_cells(1)[0], status=OK,
                  attempts=1, wall_time=0.1, oracle={}, oracle_id=short, source="t",
                  energy=-1.0, forces=np.zeros((32, 3)))
    assert len(Ledger(tmp_path / "ledger.db").labelled(short)) == 1


def test_overwrite_keeps_one_row(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    atoms = cu_cells(1)[0]
    oracle = {"calculator": "emt", "params": {}}
    ledger.record("k", atoms, status=FAILED, attempts=1, wall_time=0, oracle=oracle,
                  oracle_id="o1", source="t", error="x")
    ledger.record("k", atoms, status=OK, attempts=2, wall_time=0, oracle=oracle, oracle_id="o1", source="t",
                  energy=1.0, forces=np.zeros((32, 3)))
    import ase.db

    rows = list(ase.db.connect(tmp_path / "ledger.db").select())
    assert len(rows) == 1 and rows[0].status == OK and rows[0].energy == pytest.approx(1.0)


def test_a_lock_file_left_by_a_killed_writer_does_not_block(tmp_path):
    """ASE's db lock file, left behind by a SIGKILL during a write, once hung every resume."""
    import subprocess
    import sys

    (tmp_path / "ledger.db.lock").write_text("")
    script = (f"from lotf.ledger import Ledger\nfrom ase.build import bulk\n"
              f"Ledger({str(tmp_path / 'ledger.db')!r}).record('k', bulk('Cu'), status='ok', "
              f"attempts=1, wall_time=0, oracle={{}}, oracle_id='o', source='t', energy=1.0, "
              f"forces=[[0.0, 0.0, 0.0]])")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(Ledger(tmp_path / "ledger.db")) == 1
