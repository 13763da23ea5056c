"""Label structures with the oracle through the ledger: each configuration is asked at most once.

Outcomes enter the ledger as each call finishes, so a kill loses only the calls in flight;
a failed call is retried until `max_attempts`, then the configuration is quarantined.
"""

from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from lotf.faults import checkpoint
from lotf.ledger import FAILED, OK, QUARANTINED, Ledger, content_key, oracle_id
from lotf.log import logger, track
from lotf.offline import refuse_new
from lotf.oracle import CallTask, Pool, fingerprint, open_pool, parameters
from lotf.oracle.settings import Oracle


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
    batch = Labelling(structures, ledger, oracle, calls_dir, source, pool)
    with track(f"labelling ({source})", batch.calls if batch.calls > 1 else 0) as tracker:
        batch.collect(tracker=tracker)
    return batch.report


class Labelling:
    """One batch being labelled: what the ledger lacks is submitted at once, and `collect`
    records outcomes as they finish, retrying failed calls; so a caller can do other work
    (explore) while the oracle runs, and come back for what is in."""

    def __init__(self, structures: list[Atoms], ledger: Ledger, oracle: Oracle,
                 calls_dir: Path, source: str, pool: Pool):
        self.ledger, self.oracle, self.calls_dir, self.source, self.pool = \
            ledger, oracle, calls_dir, source, pool
        self._settings = {"calculator": oracle.calculator,
                          "params": parameters(oracle.calculator, oracle.params)}
        self._oracle_key = fingerprint(oracle.calculator, oracle.params)
        self.report = LabelReport(requested=len(structures))
        todo: dict[str, tuple[Atoms, int]] = {}
        for atoms in structures:
            key = content_key(atoms, self._oracle_key)
            entry = ledger.get(key)
            if entry is None:
                todo.setdefault(key, (atoms, 1))
            elif entry.status == FAILED and entry.attempts < oracle.max_attempts:
                todo.setdefault(key, (atoms, entry.attempts + 1))
            elif entry.status == OK:
                self.report.cached += 1
            else:
                self.report.skipped += 1
        self.calls = len(todo)  # configurations asked (a retry is not a new one)
        self._outstanding = 0
        for key, (atoms, attempt) in todo.items():
            self._submit(key, atoms, attempt)

    @property
    def done(self) -> bool:
        """Whether every configuration asked has its outcome in the ledger."""
        return self._outstanding == 0

    def collect(self, timeout: float | None = None, tracker=None) -> bool:
        """Record the outcomes that finish within `timeout` seconds (None: all); `done`."""
        if self.done:
            return True
        for task, outcome in self.pool.completed(timeout):
            checkpoint("label")
            self._outstanding -= 1
            self._record(task, outcome, tracker)
        return self.done

    def _submit(self, key: str, atoms: Atoms, attempt: int) -> None:
        refuse_new("an oracle call")
        workdir = self.calls_dir / key[:16] / f"attempt-{attempt}"
        oracle = self.oracle
        self.pool.submit(CallTask(key, atoms, oracle.calculator, oracle.params, workdir, attempt,
                                  oracle.ranks, oracle.launcher, oracle.reuse_calculator))
        self._outstanding += 1

    def _record(self, task: CallTask, outcome, tracker) -> None:
        oracle, report = self.oracle, self.report
        common = dict(attempts=task.attempt, wall_time=outcome.wall_time, oracle=self._settings,
                      oracle_id=oracle_id(self._oracle_key), source=self.source)
        if outcome.ok:
            self.ledger.record(task.key, task.atoms, status=OK, energy=outcome.energy,
                               forces=outcome.forces, stress=outcome.stress, **common)
            report.labelled += 1
            if tracker is not None:
                tracker.advance(_note(report))
            return
        report.failed_calls += 1
        final = task.attempt >= oracle.max_attempts
        self.ledger.record(task.key, task.atoms, status=QUARANTINED if final else FAILED,
                           error=outcome.error, **common)
        logger.warning("oracle call %s failed (attempt %d of %d): %s", task.key[:12],
                       task.attempt, oracle.max_attempts, outcome.error)
        if not final:
            self._submit(task.key, task.atoms, task.attempt + 1)
            return
        report.quarantined += 1
        if tracker is not None:
            tracker.advance(_note(report))


def _note(report: LabelReport) -> str:
    return f"{report.quarantined} quarantined" if report.quarantined else ""
