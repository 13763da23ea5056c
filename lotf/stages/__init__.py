"""Campaign stages by name. A stage is a function of the `Context` returning a summary dict.

Adding a stage is one decorated function in its own module (imported at the end of this file);
the campaign's `stages:` list names them, and `lotf validate` knows them all.
"""

from collections.abc import Callable

from lotf.context import Context
from lotf.registry import registrar

Stage = Callable[[Context], dict]
STAGES: dict[str, Stage] = {}
register_stage = registrar(STAGES)  # @register_stage("name") on a stage function


from lotf.stages import (  # noqa: E402,F401  (they register themselves)
    bootstrap,
    consolidate,
    diffusion,
    energetics,
    learn,
    melt_quench,
    structure,
    validate,
)
