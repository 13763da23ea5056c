"""Fault injection for the kill-and-resume tests. `LOTF_KILL_AT=name:n` SIGKILLs this process
the n-th time `checkpoint(name)` is reached, `LOTF_SIGNAL_AT=name:n` sends it SIGTERM there
instead, and `LOTF_TRACE=FILE` appends every checkpoint reached to FILE as "name n". Without
the variables a checkpoint does nothing.

Every durable file write ends in `checkpoint("write")`, so a test can kill a campaign in each
window between two writes.
"""

import os
import signal
from collections import Counter

_seen: Counter = Counter()


def _target(variable: str) -> tuple[str, int]:
    name, _, count = os.environ.get(variable, "").partition(":")
    return name, int(count or 1)


_KILL, _SIGNAL = _target("LOTF_KILL_AT"), _target("LOTF_SIGNAL_AT")
_TRACE = os.environ.get("LOTF_TRACE")


def checkpoint(name: str) -> None:
    """A point where a campaign may be killed in a test."""
    if name not in (_KILL[0], _SIGNAL[0]) and not _TRACE:
        return
    _seen[name] += 1
    if _TRACE:
        with open(_TRACE, "a") as trace:
            trace.write(f"{name} {_seen[name]}\n")
    if (name, _seen[name]) == _KILL:
        os.kill(os.getpid(), signal.SIGKILL)
    if (name, _seen[name]) == _SIGNAL:
        os.kill(os.getpid(), signal.SIGTERM)
