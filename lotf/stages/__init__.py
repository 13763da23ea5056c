"""Campaign stages by name. A stage is a function of the `Context` returning a summary dict.

Adding a stage is one decorated function in its own module (imported at the end of this file);
the campaign's `stages:` list names them, and `lotf validate` knows them all.
"""

from collections.abc import Callable

from lotf.stages.context import Context

Stage = Callable[[Context], dict]
STAGES: dict[str, Stage] = {}


def register_stage(name: str) -> Callable[[Stage], Stage]:
    """Decorator: make a stage function available under `name`."""

    def add(function: Stage) -> Stage:
        STAGES[name] = function
        return function

    return add


from lotf.stages import bootstrap, learn, validate  # noqa: E402,F401  (they register themselves)
