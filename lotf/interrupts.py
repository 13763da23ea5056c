"""SIGINT and SIGTERM stop a campaign: as KeyboardInterrupt, or, while LAMMPS runs with Python
callbacks (where an exception would be swallowed by ctypes), as a request the MD loop honours
at the next step.

A scheduler's pre-limit SIGTERM therefore ends the run within a step of MD, a fit, or an
oracle call's wait; the CLI exits 130 and the same command resumes.
"""

import contextlib
import signal
from collections.abc import Iterator

_requested: int | None = None  # the signal received while deferring, if any
_deferring = 0


def install() -> None:
    """Make SIGINT and SIGTERM interrupt the campaign (the main thread only)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handler)


def _handler(signum: int, frame) -> None:
    global _requested
    if _deferring:
        _requested = signum
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block a signal is only recorded (`requested()`); leaving the block raises
    KeyboardInterrupt if one came."""
    global _deferring, _requested
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring and _requested is not None:
        _requested = None
        raise KeyboardInterrupt


def requested() -> bool:
    """Whether SIGINT or SIGTERM arrived inside the current `deferred()` block."""
    return _requested is not None


def take() -> bool:
    """Whether a signal was recorded, forgetting it: for a process that defers signals for
    its whole life (an MPI group rank) and has acted on one."""
    global _requested
    came, _requested = _requested is not None, None
    return came
