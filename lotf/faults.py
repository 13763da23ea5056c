"""Fault injection for the kill-and-resume tests: `LOTF_KILL_AT=name:n` SIGKILLs this process
the n-th time `checkpoint(name)` is reached. Without the variable a checkpoint does nothing."""

import os
import signal
from collections import Counter

_TARGET = os.environ.get("LOTF_KILL_AT", "")
_NAME, _, _COUNT = _TARGET.partition(":")
_seen: Counter = Counter()


def checkpoint(name: str) -> None:
    """A point where a campaign may be killed in a test."""
    if name != _NAME:
        return
    _seen[name] += 1
    if _seen[name] == int(_COUNT or 1):
        os.kill(os.getpid(), signal.SIGKILL)
