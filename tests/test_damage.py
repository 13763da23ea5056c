"""Damaged run directories are survivable: a truncated or lost state.json, a malformed or
empty ledger, a damaged potential. Each is reported in one line and the campaign goes on
without asking the oracle again for what the ledger still holds."""

import json
import os
import shutil

import numpy as np

from lotf.cli import main
from lotf.doctor import salvage
from lotf.ledger import Ledger

from conftest import emt_campaign
from oracles import count_calls


def _bootstrapped(tmp_path, counter, count=6):
    config = emt_campaign(tmp_path, counter, count=count)
    workdir = tmp_path / "run"
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    return config, workdir


def _log(workdir) -> str:
    return (workdir / "logs" / "lotf.log").read_text()


def _damage_pages(path, first_page, pages=1, page=4096):
    """Overwrite whole SQLite pages with noise, as a failing disk would."""
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(0).integers(0, 256, pages * page, dtype=np.uint8).tobytes()
    data[first_page * page:(first_page + pages) * page] = noise
    path.write_bytes(bytes(data))


def test_a_truncated_state_falls_back_to_its_previous_copy(tmp_path, counter):
    config, workdir = _bootstrapped(tmp_path, counter)
    assert (workdir / "state.json.prev").is_file()
    text = (workdir / "state.json").read_text()
    (workdir / "state.json").write_text(text[: len(text) // 2])
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    assert count_calls(counter) == 6
    assert "state.json: damaged (not valid JSON); resumed from its previous copy" in _log(workdir)
    assert json.loads((workdir / "state.json").read_text())["stages"]["bootstrap"]["status"] \
        == "done"
    assert list(workdir.glob("state.json.damaged-*"))  # kept, to look at


def test_a_lost_state_starts_over_from_the_ledger_without_new_calls(tmp_path, counter):
    config, workdir = _bootstrapped(tmp_path, counter)
    (workdir / "state.json").unlink()
    (workdir / "state.json.prev").unlink()
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    assert count_calls(counter) == 6  # every label came from the ledger
    assert "state.json: missing, and no previous copy; the state was lost" in _log(workdir)
    assert list(workdir.glob("superseded-*/structures/bootstrap.extxyz"))


def test_an_empty_ledger_reruns_the_bootstrap(tmp_path, counter):
    config, workdir = _bootstrapped(tmp_path, counter, count=3)
    (workdir / "ledger.db").unlink()
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    assert count_calls(counter) == 6
    assert "ledger.db: empty, though state.json records stages done" in _log(workdir)
    assert len(Ledger(workdir / "ledger.db")) == 3


def test_a_damaged_ledger_is_salvaged_row_by_row(tmp_path, counter, capsys):
    config, workdir = _bootstrapped(tmp_path, counter, count=40)
    ledger = workdir / "ledger.db"
    pages = ledger.stat().st_size // 4096
    _damage_pages(ledger, pages // 2)
    assert main(["doctor", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert "ledger.db: damaged (SQLite reports a malformed database); " in out
    recovered = int(out.split("; ")[1].split()[0])
    assert 30 <= recovered < 40  # one page of 4 KiB holds a few 32-atom rows
    assert len(Ledger(ledger)) == recovered
    assert list(workdir.glob("ledger.damaged-*.db"))
    # asked again, the lost structures alone are labelled again
    state = json.loads((workdir / "state.json").read_text())
    del state["stages"]["bootstrap"]
    (workdir / "state.json").write_text(json.dumps(state))
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    assert count_calls(counter) == 40 + (40 - recovered)


def test_salvage_reads_a_table_that_cannot_list_its_rows(tmp_path, counter):
    _, workdir = _bootstrapped(tmp_path, counter, count=12)
    damaged = tmp_path / "damaged.db"
    shutil.copy(workdir / "ledger.db", damaged)
    _damage_pages(damaged, 1)  # the first pages hold the schema and the table's root
    recovered, _ = salvage(damaged, tmp_path / "new.db")
    assert recovered <= 12 and len(Ledger(tmp_path / "new.db")) == recovered


def test_doctor_on_a_healthy_run_changes_nothing(tmp_path, counter, capsys):
    _, workdir = _bootstrapped(tmp_path, counter, count=2)
    before = {p: p.stat().st_mtime_ns for p in workdir.rglob("*") if p.is_file()}
    assert main(["doctor", str(workdir)]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in workdir.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if p.name != ".lock"} == \
        {p: t for p, t in before.items() if p.name != ".lock"}


def test_leftovers_of_a_killed_write_are_removed(tmp_path, counter):
    config, workdir = _bootstrapped(tmp_path, counter, count=2)
    leftover = workdir / "structures" / ".bootstrap.extxyz.abc.tmp"
    leftover.write_text("half")
    os.makedirs(workdir / "potentials" / ".gen-0003.xyz")
    assert main(["run", str(config), "--workdir", str(workdir)]) == 0
    assert not leftover.exists() and not (workdir / "potentials" / ".gen-0003.xyz").exists()
