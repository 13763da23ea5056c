"""The stage registry: each stage files itself here, with the config section it owns and what it
needs from the rest of the campaign. lotf.schema assembles the campaign model from these
sections and lotf.crosscheck checks a campaign whole against them, before anything runs.

This module imports no stage and no campaign model, so every stage can import it; `registered()`
imports every module of lotf.stages once, and each files itself.
"""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Problem = tuple[tuple, str]  # the key path a problem concerns, and one sentence
Stage = Callable[[Any], dict]  # a stage: the Context in, a summary for state.json out


@dataclass(frozen=True)
class Section:
    """A stage's config section: its key, its typed model (the annotation, e.g. `Diffusion |
    None`) and its default; a default of None means the stage needs it written."""

    key: str
    model: Any
    default: Any = None


@dataclass(frozen=True)
class StageInfo:
    """A stage and what it needs: its config section, earlier stages (each entry names
    alternatives, 'a|b': one of them must come first), MD phases, trajectory frames; whether
    it is an analysis `lotf report` redraws from the run directory; and `check`, its own
    whole-campaign checks (problems found before any call)."""

    run: Stage
    section: Section | None = None
    needs: tuple[str, ...] = ()
    phases: bool = False
    trajectories: bool = False
    reports: bool = False
    check: Callable[[Any], list[Problem]] | None = None


STAGES: dict[str, StageInfo] = {}
LABELS = "bootstrap|consolidate"  # the stages that put the first labels in the ledger


def register_stage(name: str, *, section: Section | None = None, needs: tuple[str, ...] = (),
                   phases: bool = False, trajectories: bool = False, reports: bool = False,
                   check: Callable[[Any], list[Problem]] | None = None
                   ) -> Callable[[Stage], Stage]:
    """`@register_stage("name", ...)` on a stage function files it under `name`."""

    def add(function: Stage) -> Stage:
        STAGES[name] = StageInfo(function, section, needs, phases, trajectories, reports, check)
        return function

    return add


def registered() -> dict[str, StageInfo]:
    """Every stage by name, the modules of lotf.stages imported first (they register themselves)."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name != "registry":
            importlib.import_module(f"lotf.stages.{module.name}")
    return STAGES


def sections() -> dict[str, Section]:
    """Every registered stage's config section by key (several stages may read one)."""
    return {info.section.key: info.section for info in registered().values() if info.section}
