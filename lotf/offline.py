"""`lotf report`: the analysis stages rerun on what the run directory holds, with no new work.

Inside `nothing_new(...)`, the three kinds of new work — an oracle call, an MD run, a fit —
stop the stage with a sentence saying what was missing, instead of being done.
"""

import contextlib
from collections.abc import Iterator

from lotf.errors import StageFailed

_why: str | None = None  # set while nothing new may be computed


@contextlib.contextmanager
def nothing_new(why: str) -> Iterator[None]:
    """Within the block, `refuse_new` raises, saying `why`."""
    global _why
    _why = why
    try:
        yield
    finally:
        _why = None


def refuse_new(what: str) -> None:
    """Called before new work of kind `what`; raises StageFailed inside `nothing_new`."""
    if _why is not None:
        raise StageFailed(f"{what} would be needed, and the run directory does not hold it: {_why}")
