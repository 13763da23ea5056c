"""Labels of a committed break's selection asked in the background (`active_learning.
asynchronous`), on a pool kept for the phase, and collected whenever the loop looks; the
training that follows finds them in the ledger. Without it, nothing is ever coming."""

import contextlib

from lotf.context import Context
from lotf.labelling import Labelling
from lotf.learning.state import LearningState
from lotf.log import logger
from lotf.oracle import open_pool
from lotf.store import read_structures


class BackgroundLabels:
    """The pending selection's labels, asked once and collected without waiting."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._stack = contextlib.ExitStack()
        self._pool = None
        self._batch: tuple[int, Labelling] | None = None

    def __enter__(self) -> "BackgroundLabels":
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()  # kills calls in flight on an interrupt; they are asked again

    def coming(self, state: LearningState, phase: str) -> bool:
        """Whether labels of the pending selection are still coming (asked on the first look);
        once they are in, the phase's walkers no longer wait."""
        ctx = self.ctx
        latest = state.latest()
        if not ctx.config.active_learning.asynchronous or latest is None or \
                state.pending_selection != latest:
            return False
        if self._batch is None or self._batch[0] != latest:
            if self._pool is None:
                self._pool = self._stack.enter_context(open_pool(ctx.config.oracle,
                                                                 ctx.run.oracle_calls))
            batch = Labelling(read_structures(ctx.run.selection(latest)), ctx.ledger,
                              ctx.config.oracle, ctx.run.oracle_calls, f"gen-{latest:04d}",
                              self._pool)
            self._batch = (latest, batch)
            logger.info("  labelling the selection of generation %d (%d calls) while the "
                        "walkers explore on", latest, batch.calls)
        batch = self._batch[1]
        if not batch.collect(timeout=0):
            return True
        state.phase(phase).broke = []  # the next generation is about to be trained
        logger.info("  labels of generation %d's selection are in: %s", latest,
                    batch.report.summary())
        return False

    def collect(self) -> None:
        """Record the pending selection's outcomes that are in, and start its next calls."""
        self._batch[1].collect(timeout=0)

    def wait(self) -> None:
        """Wait for the rest of the pending selection's labels."""
        logger.info("  every walker broke with this generation: waiting for the labels")
        self._batch[1].collect()
