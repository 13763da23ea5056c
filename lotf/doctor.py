"""Find and repair damage in a run directory before a campaign goes on in it.

Run by `lotf run` (under the lock, before any stage) and by `lotf doctor DIR`. What it finds
and does, each reported in one line:

- state.json missing or damaged: its previous copy (state.json.prev) takes its place; with
  neither, or with labels recorded in the state but an empty ledger, the campaign starts
  again from the ledger (labels are never asked again) and what the old state described is
  moved to superseded-<time>/;
- ledger.db damaged: every readable row is copied into a new ledger, the old file kept aside;
- a protocol chunk whose end state or history is unreadable: the replica reruns from it;
- the leftovers of writes a kill interrupted (hidden .tmp files, unfinished generations).

Damaged potentials and restart points are handled where they are read (`lotf.learning`).
"""

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import ase.db

from lotf.store import RunDir, read_json, read_structures

PRODUCTS = ("potentials", "trajectories", "protocols", "structures", "results.json", "figures")
KEEP = ("structures/initial.extxyz",)  # built from the config alone: the same either way
MAX_ROW_PROBES = 100_000  # ids tried when a damaged table cannot say how many rows it has


@dataclass(frozen=True)
class Finding:
    """One thing found wrong and what was done about it."""

    path: str
    problem: str
    action: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}; {self.action}"


def repair(run: RunDir) -> list[Finding]:
    """Repair what can be repaired in `run` (whose lock the caller holds); return what was done."""
    findings = _leftovers(run)
    findings += _ledger(run)
    findings += _state(run)
    findings += _protocols(run)
    return findings


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def _relative(run: RunDir, path: Path) -> str:
    return str(path.relative_to(run.path))


# --- state ---------------------------------------------------------------------------------------
def _state(run: RunDir) -> list[Finding]:
    main, backup = read_json(run.state_file), read_json(run.state_backup)
    valid = [isinstance(s, dict) and "stages" in s for s in (main, backup)]
    if valid[0]:
        return _ledger_matches_state(run, main)
    if not run.state_file.exists() and not valid[1] and not _has_products(run):
        return []  # a campaign that has not started
    problem = "missing" if not run.state_file.exists() else "damaged (not valid JSON)"
    if run.state_file.exists():
        os.replace(run.state_file, run.path / f"state.json.damaged-{_stamp()}")
    if valid[1]:
        shutil.copy2(run.state_backup, run.state_file)
        return [Finding("state.json", problem, "resumed from its previous copy "
                        "(state.json.prev: one step is redone)")] + \
            _ledger_matches_state(run, backup)
    return [Finding("state.json", f"{problem}, and no previous copy",
                    _start_over(run, "the state was lost"))]


def _ledger_matches_state(run: RunDir, state: dict) -> list[Finding]:
    """A state that says labels were made, beside a ledger without any, describes work that
    can no longer be trusted (or retrained): start over."""
    done = [s for s in state.get("stages", {}).values() if s.get("status") == "done"]
    if not done or _ledger_rows(run.ledger_file) not in (None, 0):
        return []
    return [Finding("ledger.db", "empty, though state.json records stages done",
                    _start_over(run, "the labels were lost"))]


def _start_over(run: RunDir, why: str) -> str:
    """Move the products of the old state aside so that every stage runs again."""
    aside = run.path / f"superseded-{_stamp()}"
    aside.mkdir()
    for name in PRODUCTS + ("state.json.prev",):
        path = run.path / name
        if path.exists():
            (aside / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, aside / name)
    for name in KEEP:
        if (aside / name).exists():
            (run.path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(aside / name, run.path / name)
    if run.state_file.exists():
        os.replace(run.state_file, aside / "state.json")
    return (f"{why}: every stage runs again from the ledger's labels (none is asked twice); "
            f"the old products are in {aside.name}/")


def _has_products(run: RunDir) -> bool:
    return any((run.path / name).exists() for name in PRODUCTS if name != "structures") or \
        _ledger_rows(run.ledger_file) not in (None, 0)


# --- ledger --------------------------------------------------------------------------------------
def _ledger_rows(path: Path) -> int | None:
    """Rows in a healthy ledger; None if there is no ledger file."""
    if not path.is_file():
        return None
    with sqlite3.connect(path) as connection:
        try:
            return connection.execute("SELECT count(*) FROM systems").fetchone()[0]
        except sqlite3.OperationalError:  # a new database without ASE's tables yet
            return 0


def _healthy(path: Path) -> bool:
    try:
        with sqlite3.connect(path) as connection:
            return connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    except sqlite3.DatabaseError:
        return False


def _ledger(run: RunDir) -> list[Finding]:
    path = run.ledger_file
    if not path.is_file() or path.stat().st_size == 0 or _healthy(path):
        return []
    aside = run.path / f"ledger.damaged-{_stamp()}.db"
    os.replace(path, aside)
    for suffix in ("-journal", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    recovered, lost = salvage(aside, path)
    return [Finding("ledger.db", "damaged (SQLite reports a malformed database)",
                    f"{recovered} rows recovered into a new ledger, {lost} unreadable (their "
                    f"structures are labelled again when asked); the old file is {aside.name}")]


def salvage(damaged: Path, target: Path) -> tuple[int, int]:
    """Copy every readable row of a damaged ASE database into a new one; (copied, lost)."""
    old = ase.db.connect(str(damaged), type="db", use_lock_file=False)
    new = ase.db.connect(str(target), type="db", append=True, use_lock_file=False)
    highest = _highest_id(damaged)
    copied = misses = 0
    for row_id in range(1, (highest or MAX_ROW_PROBES) + 1):
        try:
            row = old.get(id=row_id)
        except Exception:  # a damaged page, or (when probing) no such row
            misses += 1
            if highest is None and misses > 1000:
                break
            continue
        misses = 0
        new.write(row, key_value_pairs=row.key_value_pairs, data=row.get("data", {}))
        copied += 1
    # rows are never deleted from a ledger, only rewritten in place: ids run from 1 to the highest
    return copied, (highest - copied) if highest is not None else 0


def _highest_id(path: Path) -> int | None:
    """The highest row id the database ever gave (its AUTOINCREMENT counter, else the highest
    id still listed), or None if neither can be read."""
    queries = ("SELECT seq FROM sqlite_sequence WHERE name = 'systems'",
               "SELECT max(id) FROM systems")
    for query in queries:
        try:
            with sqlite3.connect(path) as connection:
                found = connection.execute(query).fetchone()
        except sqlite3.DatabaseError:
            continue
        if found and found[0]:
            return int(found[0])
    return None


# --- protocols -----------------------------------------------------------------------------------
def _protocols(run: RunDir) -> list[Finding]:
    """Replicas whose finished chunks left an unreadable end state or history rerun from there."""
    state = read_json(run.state_file)
    if not isinstance(state, dict):
        return []
    findings = []
    for name, replicas in state.get("protocols", {}).items():
        for replica, done in replicas.items():
            folder = run.replica(name, replica)
            bad = next((index for index in range(done)
                        if not _chunk_readable(run, name, replica, index)), None)
            if bad is None:
                continue
            replicas[replica] = bad
            findings.append(Finding(
                _relative(run, folder), f"chunk {bad}'s end state or history is unreadable",
                f"the replica reruns from chunk {bad} ({done - bad} chunks, with the current "
                "potential), and the stages from that protocol's on run again"))
    if findings:
        _reopen_protocol_stages(state)
        run.write_state(state)
    return findings


def _chunk_readable(run: RunDir, name: str, replica: str, index: int) -> bool:
    try:
        read_structures(run.chunk_state(name, replica, index))[-1]
    except Exception:
        return False
    return isinstance(read_json(run.chunk_history(name, replica, index)), dict)


def _reopen_protocol_stages(state: dict) -> None:
    """Mark melt_quench, and every stage recorded after it, as not done."""
    names = list(state.get("stages", {}))
    if "melt_quench" in names:
        for name in names[names.index("melt_quench"):]:
            state["stages"][name] = {"status": "reopened"}


# --- leftovers -----------------------------------------------------------------------------------
def _leftovers(run: RunDir) -> list[Finding]:
    """Temporary files and folders of writes that a kill interrupted: never read, removed."""
    found = [p for p in run.path.rglob(".*.tmp") if p.is_file()]
    if run.potentials.is_dir():
        found += [p for p in run.potentials.glob(".gen-*") if p.is_dir()]
    for path in found:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    if not found:
        return []
    return [Finding(".", f"{len(found)} leftovers of interrupted writes", "removed")]
