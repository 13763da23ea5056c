"""Label structures with the oracle through the ledger: each configuration is asked at most once.

Outcomes enter the ledger as each call finishes, so a kill loses only the calls in flight;
a failed call is retried until `max_attempts`, then the configuration is quarantined.
"""

from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from lotf.config import Oracle
from lotf.faults import checkpoint
from lotf.ledger import FAILED, OK, QUARANTINED, Ledger, content_key, oracle_id
from lotf.log import logger, track
from lotf.oracle import CallTask, Pool, fingerprint, open_pool, parameters


@dataclass
class LabelReport:
    """What one labelling batch did."""

    requested: int = 0
    cached: int = 0
    skipped: int = 0
    labelled: int = 0
    quarantined: int = 0
    failed_calls: int = 0

    def summary(self) -> str:
        return (f"{self.requested} requested: {self.cached} already labelled, "
                f"{self.labelled} newly labelled, {self.quarantined + self.skipped} quarantined "
                f"({self.failed_calls} failed calls now)")

    @property
    def usable(self) -> int:
        """Requested structures that now have labels."""
        return self.cached + self.labelled

    def __iadd__(self, other: "LabelReport") -> "LabelReport":
        """Accumulate another batch's counts (a run of one-structure batches, e.g. oracle MD)."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def label(structures: list[Atoms], ledger: Ledger, oracle: Oracle, calls_dir: Path,
          source: str, pool: Pool | None = None) -> LabelReport:
    """Label what the ledger lacks; return counts. Results are read back with `ledger.get`.

    A caller labelling one structure at a time (an oracle MD) passes its own `pool`, so the
    workers and their imported calculators live across calls; otherwise one is made here.
    """
    if pool is None:
        with open_pool(oracle, calls_dir) as own:
            return label(structures, ledger, oracle, calls_dir, source, own)
    settings = {"calculator": oracle.calculator,
                "params": parameters(oracle.calculator, oracle.params)}
    oracle_key = fingerprint(oracle.calculator, oracle.params)
    report = LabelReport(requested=len(structures))
    todo: dict[str, tuple[Atoms, int]] = {}
    for atoms in structures:
        key = content_key(atoms, oracle_key)
        entry = ledger.get(key)
        if entry is None:
            todo.setdefault(key, (atoms, 1))
        elif entry.status == FAILED and entry.attempts < oracle.max_attempts:
            todo.setdefault(key, (atoms, entry.attempts + 1))
        elif entry.status == OK:
            report.cached += 1
        else:
            report.skipped += 1

    def submit(key: str, atoms: Atoms, attempt: int) -> None:
        workdir = calls_dir / key[:16] / f"attempt-{attempt}"
        pool.submit(CallTask(key, atoms, oracle.calculator, oracle.params, workdir, attempt,
                             oracle.ranks, oracle.launcher, oracle.reuse_calculator))

    for key, (atoms, attempt) in todo.items():
        submit(key, atoms, attempt)
    with track(f"labelling ({source})", len(todo) if len(todo) > 1 else 0) as tracker:
        for task, outcome in pool.completed():
            checkpoint("label")
            common = dict(attempts=task.attempt, wall_time=outcome.wall_time, oracle=settings,
                          oracle_id=oracle_id(oracle_key), source=source)
            if outcome.ok:
                ledger.record(task.key, task.atoms, status=OK, energy=outcome.energy,
                              forces=outcome.forces, stress=outcome.stress, **common)
                report.labelled += 1
                tracker.advance(_note(report))
                continue
            report.failed_calls += 1
            final = task.attempt >= oracle.max_attempts
            ledger.record(task.key, task.atoms, status=QUARANTINED if final else FAILED,
                          error=outcome.error, **common)
            logger.warning("oracle call %s failed (attempt %d of %d): %s", task.key[:12],
                           task.attempt, oracle.max_attempts, outcome.error)
            if final:
                report.quarantined += 1
                tracker.advance(_note(report))
            else:
                submit(task.key, task.atoms, task.attempt + 1)
    return report


def _note(report: LabelReport) -> str:
    return f"{report.quarantined} quarantined" if report.quarantined else ""
