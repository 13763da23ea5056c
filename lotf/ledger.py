"""The labelled-data ledger: every oracle result, kept in ASE's SQLite database (`ase db` reads it).

A row is keyed by the content of what was labelled (species, positions, cell, pbc) and by the
oracle's fingerprint, so the same question is never asked twice. One process writes (the run
directory's lock holder); the key index is kept in memory for O(1) lookups.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ase.db
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from lotf.faults import checkpoint

OK, FAILED, QUARANTINED = "ok", "failed", "quarantined"
# sources of labels that are not training data: relabelled validation frames, and the steps of
# an oracle-driven MD between the frames it keeps
VALIDATION, MD_STEP = "validation", "oracle-md-step"
NOT_FOR_TRAINING = (VALIDATION, MD_STEP)
POSITION_DECIMALS = 8  # Å; what extxyz keeps, so a structure read back hashes the same


def oracle_id(oracle_fingerprint: str) -> str:
    """The short form of an oracle fingerprint kept as a searchable ledger key. ASE's database
    refuses a string that reads as a number, as about one hex prefix in a thousand does
    ('5e07...', all digits): such a prefix gets an 'x' in front (it could never be stored, so
    no ledger holds it otherwise)."""
    short = oracle_fingerprint[:16]
    try:
        float(short)
    except ValueError:
        return short
    return "x" + short[:15]


def content_key(atoms: Atoms, oracle_fingerprint: str) -> str:
    """sha256 of species, positions, cell, pbc and the oracle fingerprint."""
    digest = hashlib.sha256(b"lotf-label-v1")
    digest.update(np.ascontiguousarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (atoms.positions, atoms.cell.array):
        rounded = np.round(np.asarray(array, dtype=np.float64), POSITION_DECIMALS) + 0.0
        digest.update(np.ascontiguousarray(rounded).tobytes())
    digest.update(np.asarray(atoms.pbc, dtype=np.uint8).tobytes())
    digest.update(oracle_fingerprint.encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One ledger row: the status of a configuration and, when ok, its labels."""

    key: str
    status: str
    attempts: int
    atoms: Atoms | None
    error: str | None
    wall_time: float


class Ledger:
    """Read and write labelled configurations by content key."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        # no ASE lock file: a SIGKILL during a write leaves it behind and every later run waits
        # on it forever. SQLite locks itself, and the run directory's lock admits one writer.
        self._db = ase.db.connect(str(self.path), type="db", append=True, use_lock_file=False)
        self._ids: dict[str, int] = {
            row.key: row.id for row in self._db.select(include_data=False) if "key" in row
        }

    def __contains__(self, key: str) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, key: str) -> Entry | None:
        """The row for `key`, or None if it was never asked."""
        if key not in self._ids:
            return None
        row = self._db.get(id=self._ids[key])
        atoms = row.toatoms(add_additional_information=False) if row.status == OK else None
        return Entry(key, row.status, row.attempts, atoms, row.data.get("error"), row.wall_time)

    def record(self, key: str, atoms: Atoms, *, status: str, attempts: int, wall_time: float,
               oracle: dict, oracle_id: str, source: str, energy: float | None = None,
               forces: np.ndarray | None = None, stress: np.ndarray | None = None,
               error: str | None = None) -> None:
        """Write (or overwrite) the row for `key`; committed to disk before returning."""
        stored = atoms.copy()
        stored.calc = None
        if status == OK:
            stored.calc = SinglePointCalculator(stored, energy=energy, forces=forces, stress=stress)
        data = {"oracle": json.loads(json.dumps(oracle, default=str))}
        if error is not None:
            data["error"] = error
        earlier = {}
        if key in self._ids:  # a retry: the attempts before a requeue stay on record
            previous = self._db.get(id=self._ids[key])
            if "history" in previous.data:
                data["history"] = previous.data["history"]
                earlier["earlier_attempts"] = previous.earlier_attempts
        self._ids[key] = self._db.write(
            stored, id=self._ids.get(key), data=data, key=key, status=status, attempts=attempts,
            wall_time=float(wall_time), source=source, oracle_id=oracle_id, **earlier,
        )
        checkpoint("write")

    def record_imported(self, atoms: Atoms, oracle_fingerprint: str, source: str,
                        origin: str) -> bool:
        """Enter labels computed elsewhere (no call here: attempts 0) unless the ledger has
        them already; `origin` says where from. Returns whether a row was added."""
        key = content_key(atoms, oracle_fingerprint)
        if key in self:
            return False
        results = atoms.calc.results
        self.record(key, atoms, status=OK, attempts=0, wall_time=0.0, oracle={"origin": origin},
                    oracle_id=oracle_id(oracle_fingerprint), source=source,
                    energy=results["energy"], forces=results["forces"],
                    stress=results.get("stress"))
        return True

    def labelled(self, oracle_id: str | None = None, exclude: tuple[str, ...] = (),
                 keep: Callable[[str], bool] | None = None) -> list[Atoms]:
        """Successfully labelled configurations (of one oracle if given, not from the sources
        in `exclude`, and from sources `keep` accepts if given), labels attached.

        In content-key order, not the order calls finished in, so a fit on them is reproducible.
        """
        query = {"status": OK} if oracle_id is None else {"status": OK, "oracle_id": oracle_id}
        rows = sorted((row for row in self._db.select(**query) if row.source not in exclude
                       and (keep is None or keep(row.source))), key=lambda row: row.key)
        return [row.toatoms(add_additional_information=False) for row in rows]

    def labelled_sources(self, oracle_id: str, keep: Callable[[str], bool]
                         ) -> list[tuple[str, Atoms]]:
        """(source, labelled structure) of one oracle's successful rows whose source `keep`
        accepts, in content-key order."""
        rows = sorted((row for row in self._db.select(status=OK, oracle_id=oracle_id)
                       if keep(row.source)), key=lambda row: row.key)
        return [(row.source, row.toatoms(add_additional_information=False)) for row in rows]

    def quarantined(self) -> list[tuple[str, Atoms, str]]:
        """(key, structure, source) of every configuration given up on after max_attempts."""
        return [(row.key, row.toatoms(add_additional_information=False), row.source)
                for row in self._db.select(status=QUARANTINED)]

    def requeue(self, key: str) -> None:
        """Put a quarantined configuration back in play: status failed with no attempts left
        behind, its earlier attempts and error kept in the row's history."""
        row = self._db.get(id=self._ids[key])
        data = dict(row.data)
        data["history"] = [*data.get("history", []), {
            "status": row.status, "attempts": row.attempts, "error": data.pop("error", None)}]
        self._db.update(row.id, status=FAILED, attempts=0, data=data,
                        earlier_attempts=row.get("earlier_attempts", 0) + row.attempts)
        checkpoint("write")

    def call_counts(self) -> dict[str, int]:
        """Oracle calls made: `ok` and `failed` calls, their `total`, `quarantined` structures,
        and `imported` labels (rows with no call: attempts 0)."""
        counts = {"ok": 0, "failed": 0, "quarantined": 0, "imported": 0}
        for row in self._db.select(include_data=False):
            # the calls a configuration failed before it was put back in play
            counts["failed"] += row.get("earlier_attempts", 0)
            if row.attempts == 0:  # imported, or put back in play and not asked since
                counts["imported"] += row.status == OK
                continue
            succeeded = row.status == OK
            counts["ok"] += succeeded
            counts["failed"] += row.attempts - succeeded
            counts["quarantined"] += row.status == QUARANTINED
        counts["total"] = counts["ok"] + counts["failed"]
        return counts
