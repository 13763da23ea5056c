"""Logging and progress: a concise terminal log, a full log file in the run directory, progress bars.

On a terminal, long work shows a rich progress bar; in a batch job (no terminal) it logs a line
every tenth of the way instead, so a scheduler's output file stays readable.
"""

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

logger = logging.getLogger("lotf")
console = Console(stderr=True)


def configure(log_file: Path | None = None, verbose: bool = False) -> None:
    """Terminal at INFO (DEBUG if verbose); the run directory's log file at DEBUG with timestamps."""
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if console.is_terminal:
        terminal: logging.Handler = RichHandler(console=console, show_path=False)
    else:  # a batch job's output file: plain, timestamped lines
        terminal = logging.StreamHandler(sys.stderr)
        terminal.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                                "%H:%M:%S"))
    terminal.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.addHandler(terminal)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        full = logging.FileHandler(log_file)
        full.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        full.setLevel(logging.DEBUG)
        logger.addHandler(full)


class Tracker:
    """Progress of `total` items, shown as a bar on a terminal or as periodic log lines."""

    def __init__(self, description: str, total: int, progress: Progress | None):
        self.description, self.total, self.done = description, total, 0
        self._progress = progress
        self._task = progress.add_task(description, total=total, note="") if progress else None
        self._next_report = 0.1
        self._start = time.perf_counter()

    def advance(self, note: str = "") -> None:
        """One more item done; `note` is shown beside the bar (e.g. '3 failed')."""
        self.done += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, note=note)
        elif self.total and self.done / self.total >= self._next_report - 1e-9:
            self._next_report += 0.1
            elapsed = time.perf_counter() - self._start
            logger.info("%s: %d/%d (%.0f s) %s", self.description, self.done, self.total,
                        elapsed, note)


@contextmanager
def track(description: str, total: int) -> Iterator[Tracker]:
    """Context for a long loop: `tracker.advance()` once per item."""
    if not console.is_terminal or total == 0:
        yield Tracker(description, total, None)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=console, transient=True) as progress:
        yield Tracker(description, total, progress)

