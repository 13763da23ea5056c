"""Campaign stages by name. A stage is a function of the `Context` returning a summary dict,
registered with what it needs from the campaign, so that a campaign is checked whole before
anything runs (lotf.crosscheck).

Adding a stage is one decorated function in its own module (imported at the end of this file);
the campaign's `stages:` list names them, and `lotf validate` knows them all.
"""

from collections.abc import Callable
from dataclasses import dataclass

from lotf.context import Context

Stage = Callable[[Context], dict]


@dataclass(frozen=True)
class StageInfo:
    """A stage and what it needs: its config section, earlier stages (each entry names
    alternatives, 'a|b': one of them must come first), MD phases, trajectory frames; and
    whether it is an analysis `lotf report` redraws from the run directory."""

    run: Stage
    section: str | None = None
    needs: tuple[str, ...] = ()
    phases: bool = False
    trajectories: bool = False
    reports: bool = False


STAGES: dict[str, StageInfo] = {}
LABELS = "bootstrap|consolidate"  # the stages that put the first labels in the ledger


def register_stage(name: str, *, section: str | None = None, needs: tuple[str, ...] = (),
                   phases: bool = False, trajectories: bool = False,
                   reports: bool = False) -> Callable[[Stage], Stage]:
    """`@register_stage("name", ...)` on a stage function files it under `name`."""

    def add(function: Stage) -> Stage:
        STAGES[name] = StageInfo(function, section, needs, phases, trajectories, reports)
        return function

    return add


from lotf.stages import (  # noqa: E402,F401  (they register themselves)
    audit,
    bootstrap,
    calibrate,
    consolidate,
    diffusion,
    energetics,
    learn,
    melt_quench,
    structure,
    validate,
)
