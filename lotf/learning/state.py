"""The learning loop's state, typed and saved: state.json's `learn` section.

Per generation what its training and its MD did; per MD phase, by name, each walker's time
without a break, the phase's breaks and its checks against the oracle; the restart point of
every walker in every phase; the selection awaiting labels and the frames kept meanwhile. A
resume reads it back and goes on by phase name, whatever list of phases the caller runs.

A `learn` section written before phases were keyed by name (with a positional `phase`) loads
too: its converged phases are known by name, and the phase that was running counts its time
without a break from zero again (more MD, no label lost).
"""

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lotf.store import RunDir


class GenerationRecord(BaseModel):
    """What is known of one generation: its training (a committed generation has
    `trained_on`), the MD run with it, and the break it ended with."""

    model_config = ConfigDict(extra="forbid")

    md_ps: float = 0.0
    trained_on: int | None = None
    train_rmse: dict[str, Any] | None = None
    weights: dict[str, float] | None = None
    min_dist: float | None = None
    volume_per_atom: list[float] | None = None
    fit_seconds: float | None = None
    warm_start: bool | None = None
    oracle_calls: int | None = None
    last_seed: int | None = None
    break_step: int | None = None
    break_grade: float | None = None
    selected: int | None = None


class PhaseProgress(BaseModel):
    """One MD phase under way: each walker's MD time (fs) without a break on the newest
    generation, the phase's breaks, and the walkers waiting for the next generation."""

    model_config = ConfigDict(extra="forbid")

    walker_fs_without_break: list[float] = Field(default_factory=list)
    breaks: int = 0
    broke: list[int] = Field(default_factory=list)


class LearningState(BaseModel):
    """The whole loop's state; `read` and `write` keep it in state.json."""

    model_config = ConfigDict(extra="ignore")  # keys of the positional format are dropped

    generations: dict[str, GenerationRecord] = Field(default_factory=dict)
    converged_phases: dict[str, float] = Field(default_factory=dict)  # name: ps clean at the end
    unconverged_phases: dict[str, int] = Field(default_factory=dict)  # name: generation left on
    phases: dict[str, PhaseProgress] = Field(default_factory=dict)  # phases under way
    current: str | None = None  # the phase being learned, for `lotf status`
    breaks: int = 0
    segments: int = 0  # MD runs so far: each run's velocity seed is drawn from its number
    stuck: int = 0  # breaks in a row whose selection added no label
    pending_selection: int | None = None  # the generation whose break awaits its labels
    restarts: dict[str, dict[str, str]] = Field(default_factory=dict)  # phase: walker: path
    harvest: list[str] = Field(default_factory=list)  # files of frames kept while labelling
    checks: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)  # phase: rounds

    @classmethod
    def read(cls, run: RunDir) -> "LearningState":
        """The state as state.json has it (a fresh one for a new run)."""
        return cls.model_validate(run.read_state().get("learn", {}))

    def to_json(self) -> dict:
        """state.json's `learn` section (a generation's unknown facts left out)."""
        data = self.model_dump(exclude={"generations"})
        data["generations"] = {number: record.model_dump(exclude_none=True)
                               for number, record in self.generations.items()}
        return data

    def write(self, run: RunDir, generation: int | None = None,
              also: Callable[[dict], None] | None = None) -> None:
        """Commit the state (the newest generation, and `also`'s changes to the rest of
        state.json) in one write."""
        state = run.read_state()
        state["learn"] = self.to_json()
        if generation is not None:
            state["generation"] = generation
        if also is not None:
            also(state)
        run.write_state(state)

    def committed(self) -> list[int]:
        """The generations whose training is recorded, in order."""
        return sorted(int(number) for number, record in self.generations.items()
                      if record.trained_on is not None)

    def latest(self) -> int | None:
        """The newest committed generation, or None before the first."""
        return max(self.committed(), default=None)

    def record(self, generation: int, md_ps: float = 0.0, **facts: Any) -> None:
        """Add MD time and facts to a generation's record."""
        entry = self.generations.setdefault(str(generation), GenerationRecord())
        entry.md_ps = round(entry.md_ps + md_ps, 6)
        for name, value in facts.items():
            setattr(entry, name, value)

    def phase(self, name: str) -> PhaseProgress:
        """The progress of a phase under way (new if it has none yet)."""
        return self.phases.setdefault(name, PhaseProgress())

    def clean_ps(self) -> float:
        """MD time without a break of the phase under way (its slowest walker), in ps."""
        progress = self.phases.get(self.current or "")
        times = progress.walker_fs_without_break if progress else []
        return min(times) / 1000.0 if times else 0.0
