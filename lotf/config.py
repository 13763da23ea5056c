"""The core of the campaign model: the sections every campaign has (system, oracle, potential,
active learning, MD phases), typed and frozen. Each stage owns its own section; lotf.schema
assembles the whole model from the stage registry and reads campaign files into it.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Tag,
    field_validator,
    model_validator,
)

from lotf.build.amorphous import AmorphousSpec
from lotf.build.files import FileStructures
from lotf.build.interface import InterfaceSpec
from lotf.md.barostats import BAROSTATS
from lotf.md.ensembles import ENSEMBLES
from lotf.model import Strict
from lotf.oracle.settings import Oracle
from lotf.quantities import (
    MAX_MD_FS,
    MAX_TEMPERATURE,
    BackendName,
    BarostatName,
    CouplingName,
    EnsembleName,
    PressureBar,
    RunFs,
    Species,
    Timestep,
)


def _structure_kind(value: Any) -> str:
    """'<amorphous>', '<interface>' ... for a builder, '<read>' for a file (tags hide in errors)."""
    if isinstance(value, dict) and "builder" in value:
        return f"<{value['builder']}>"
    return "<read>"


Structure = Annotated[
    Annotated[AmorphousSpec, Tag("<amorphous>")] | Annotated[InterfaceSpec, Tag("<interface>")]
    | Annotated[FileStructures, Tag("<read>")],
    Discriminator(_structure_kind),
]


class System(Strict):
    """What is simulated: the species (their order is the potential's type order) and start cells."""

    species: list[Species] = Field(min_length=1)
    structures: list[Structure] = Field(min_length=1)

    @field_validator("species")
    @classmethod
    def _unique(cls, species: list[str]) -> list[str]:
        if len(set(species)) != len(species):
            raise ValueError(f"species are listed twice: {species}")
        return species

    @model_validator(mode="after")
    def _covered(self) -> "System":
        for index, structure in enumerate(self.structures):
            extra = structure.symbols() - set(self.species)
            if extra:
                raise ValueError(
                    f"structures[{index}] contains {sorted(extra)}, not in species {self.species}"
                )
        return self


class Weights(Strict):
    """Relative weights of energy, forces and stress in the fit (the paper: 100 : 0.1 : 0 for NVT)."""

    energy: NonNegativeFloat = 100.0
    forces: NonNegativeFloat = 0.1
    stress: NonNegativeFloat = 0.0


class Potential(Strict):
    """The MTP to learn: level, radial cutoff and fit weights (the paper: level 12, 5 Å)."""

    backend: BackendName = Field(
        "native", description="lotf's C++ core, or motep (the reference it is tested against)")
    level: int = Field(12, ge=2, le=20)
    cutoff: PositiveFloat = Field(5.0, le=15.0, description="Å (MTPs use 4-7 Å)")
    min_dist: PositiveFloat | None = Field(None, description="Å; None: from the training data")
    radial_basis_size: PositiveInt = Field(8, le=64)
    weights: Weights = Weights()
    fit_steps: NonNegativeInt = Field(
        300, le=1_000_000,
        description="L-BFGS iterations at most over all coefficients after the least-squares "
                    "start (0: least squares only)")
    fit_holdout: float = Field(
        0.1, ge=0.0, le=0.5,
        description="native: share of the structures held out to keep L-BFGS's best iterate")
    fit_patience: PositiveInt = Field(
        50, description="native: L-BFGS iterations without a better held-out loss before it stops")
    fit_ridge: NonNegativeFloat = Field(
        1e-6, description="native: ridge on the squared radial coefficients, in loss units")
    warm_start: bool = Field(
        True, description="native: start each generation's fit from the previous generation's "
                          "coefficients")

    @field_validator("level")
    @classmethod
    def _even(cls, level: int) -> int:
        if level % 2:
            raise ValueError(f"MTP levels are even (2, 4, ..., 20), not {level}")
        return level

    @model_validator(mode="after")
    def _radii(self) -> "Potential":
        if self.min_dist is not None and self.min_dist >= self.cutoff:
            raise ValueError(f"min_dist {self.min_dist} Å must be below cutoff {self.cutoff} Å")
        return self

    @model_validator(mode="after")
    def _native_fit(self) -> "Potential":
        native_only = sorted({"fit_holdout", "fit_patience", "fit_ridge", "warm_start"}
                             & self.model_fields_set)
        if self.backend != "native" and native_only:
            raise ValueError(f"{', '.join(native_only)} apply to the native backend's fit; "
                             f"motep's trainer takes only fit_steps")
        return self


class OracleTolerance(Strict):
    """How many frames to relabel and how close the potential must be to the oracle there
    (RMSEs), and how many times to try (each failed try trains on its labels)."""

    frames: PositiveInt = Field(16, le=100_000, description="frames relabelled per round")
    energy_rmse: PositiveFloat = Field(10.0, description="meV/atom")
    forces_rmse: PositiveFloat = Field(0.3, description="eV/Å")
    pressure_rmse: PositiveFloat = Field(0.3, description="GPa: a pressure error biases "
                                         "every density the potential gives")
    rounds: PositiveInt = Field(3, le=100, description="checks at most (retrainings: one less)")


class ConvergenceCheck(OracleTolerance):
    """Hold each phase to the oracle when the grade says it converged: a random sample of its
    clean MD's frames is labelled; beyond a tolerance those labels train the next generation
    and the phase learns on, until a check passes or `rounds` are spent (then a plain flag).
    The grade sees only what the data covers; a liquid can run clean and be far off (#19)."""


class ActiveLearning(Strict):
    """Extrapolation-grade thresholds and the convergence rule (the paper: 1.5, 10, 2 ns)."""

    select_threshold: float = Field(1.5, ge=1.0)
    break_threshold: float = Field(10.0, gt=1.0)
    max_new: PositiveInt = Field(20, le=100_000,
                                 description="configurations labelled per iteration at most")
    converge_after: RunFs = Field(2e6, le=MAX_MD_FS,
                                   description="MD time without a break that converges a phase")
    grade_mode: Literal["neighbourhood", "configuration"] = "neighbourhood"
    max_iterations: PositiveInt = Field(200, le=1_000_000,
                                        description="breaks learned from per phase at most")
    on_max_iterations: Literal["stop", "continue"] = Field(
        "stop", description="when a phase has learned from max_iterations breaks: stop the "
        "campaign with an error, or end the phase unconverged (a flag in results.json and the "
        "log) and go on with its last potential, so a study finishes within its allocation")
    walkers: PositiveInt = Field(1, le=1024)
    asynchronous: bool = Field(
        False, description="while a break's selection is labelled, the walkers explore on with "
        "the potential that broke; their candidates join the next selection (faster with a slow "
        "oracle; the path then depends on timing, so a run is not reproduced step for step)")
    volume_margin: NonNegativeFloat | None = Field(
        0.05, description="NPT MD whose volume per atom leaves the training data's range by more "
        "than this fraction breaks, and that frame is labelled (a cell that expands into a gas "
        "keeps every neighbourhood grade low); null: no such break")
    check: ConvergenceCheck | None = Field(
        None, description="relabel a sample of each converged phase's clean MD and learn on "
        "while the potential misses these tolerances there; null: the grade alone converges")

    @model_validator(mode="after")
    def _ordered(self) -> "ActiveLearning":
        if self.break_threshold <= self.select_threshold:
            raise ValueError(
                f"break_threshold ({self.break_threshold}) must exceed "
                f"select_threshold ({self.select_threshold})"
            )
        return self


def _temperature(value: Any) -> Any:
    """A temperature in K, or a linear ramp [start, end]; both must be positive numbers."""
    values = value if isinstance(value, list | tuple) else [value]
    if len(values) not in (1, 2) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError("give a temperature in K (e.g. 1000) or a ramp [start, end] in K")
    if any(v > MAX_TEMPERATURE for v in values):
        raise ValueError(f"a temperature above {MAX_TEMPERATURE:g} K is no campaign's")
    return value


Temperature = Annotated[float | tuple[float, float], BeforeValidator(_temperature)]


class Phase(Strict):
    """One MD phase: ensemble, temperature in K (or a [start, end] ramp), pressure, timestep.

    MD runs in segments of `length`; each segment without a break is saved as the new restart
    point, and the phase converges once `converge_after` of MD has passed without a break.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    ensemble: EnsembleName
    temperature: Temperature
    pressure: PressureBar | None = None
    timestep: Timestep = 2.0
    length: Annotated[RunFs, Field(le=MAX_MD_FS)]
    converge_after: Annotated[RunFs, Field(le=MAX_MD_FS)] | None = None
    weights: Weights | None = None
    barostat: BarostatName | None = Field(None, description="npt only; default: md.barostat")

    @model_validator(mode="after")
    def _pressure_for_npt(self) -> "Phase":
        kind = ENSEMBLES[self.ensemble]
        if kind.needs_pressure and self.pressure is None:
            raise ValueError(f"an {self.ensemble} phase needs a pressure, e.g. pressure: 1 bar")
        if not kind.needs_pressure and self.pressure is not None:
            raise ValueError(f"pressure is only used by npt phases, not {self.ensemble}")
        if not kind.needs_pressure and self.barostat is not None:
            raise ValueError(f"barostat is only used by npt phases, not {self.ensemble}")
        if self.timestep >= self.length:
            raise ValueError("length must be longer than one timestep")
        return self


class MD(Strict):
    """The exploration MD, phase after phase (the paper: NVT 1000 K, then NPT 1000 K)."""

    phases: list[Phase] = Field(default_factory=list)
    dump_every: NonNegativeInt = Field(100, le=100_000_000,
                                       description="steps between trajectory frames; 0: none")
    coupling: CouplingName = Field(
        "auto", description="forces from lotf's pair_style mtp inside LAMMPS (MPI domain "
        "decomposition), or from Python through fix external (any backend); auto: the pair "
        "style when the potential has one and the plugin was built")
    ranks: PositiveInt = Field(1, le=100_000, description="MPI ranks for each MD run (mpiexec), the cell "
                               "split between them by the pair style")
    barostat: BarostatName = Field(
        "aniso", description="how NPT couples the cell unless a phase says otherwise: "
        + "; ".join(f"{b.name}, {b.description}" for b in BAROSTATS.values()))

    @field_validator("phases")
    @classmethod
    def _unique_names(cls, phases: list[Phase]) -> list[Phase]:
        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phase names must be unique: {names}")
        return phases

    @model_validator(mode="after")
    def _ranks_need_the_pair_style(self) -> "MD":
        if self.ranks > 1 and self.coupling == "fix_external":
            raise ValueError("ranks > 1 needs coupling: pair_style or auto (through fix "
                             "external every rank evaluates the whole cell)")
        return self


class Campaign(Strict):
    """The sections every campaign has: what to simulate, how to label, learn and explore, and
    which stages to run. Each stage adds its own section (lotf.schema assembles the whole)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    time_scale: float = Field(1.0, gt=0.0, le=1.0, description="every MD run length (phases, "
                              "convergence, bootstrap MD, melt-quench, diffusion) times this, "
                              "applied before validation: 0.01 runs a study written at the "
                              "paper's times on a laptop")
    system: System
    oracle: Oracle = Oracle()
    potential: Potential = Potential()
    active_learning: ActiveLearning = ActiveLearning()
    md: MD = MD()
    stages: list[str] = Field(
        default_factory=lambda: ["bootstrap"], min_length=1
    )

    @model_validator(mode="after")
    def _checks_need_frames(self) -> "Campaign":
        if self.active_learning.check is not None and self.md.dump_every == 0:
            raise ValueError("active_learning.check relabels frames of the converged MD: set "
                             "md.dump_every above 0")
        return self
