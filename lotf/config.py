"""The campaign file: YAML read safely, validated into typed, frozen models.

Every problem becomes a `UserError` of one line: ``file:line: key.path: what is wrong``.
"""

import importlib.util
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from ase.data import chemical_symbols
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lotf.build.amorphous import AmorphousSpec
from lotf.build.files import FileStructures, StructureFile
from lotf.build.interface import InterfaceSpec
from lotf.errors import UserError
from lotf.md.barostats import BAROSTATS
from lotf.md.coupling import COUPLINGS
from lotf.md.ensembles import ENSEMBLES
from lotf.model import Strict
from lotf.oracle.executors import EXECUTORS
from lotf.potential import BACKENDS
from lotf.protocols.schedule import Step
from lotf.scaling import SCALED, scale_times
from lotf.units import parse_quantity


def _quantity(dimension: str, unit: str):
    return BeforeValidator(lambda value: parse_quantity(value, dimension, unit))


TimeFs = Annotated[PositiveFloat, _quantity("time", "fs")]
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_NODES = 100_000  # values in a campaign file once YAML aliases are expanded
MAX_MD_FS = 1e9  # 1 µs: no MD of a learning campaign runs longer
MAX_TEMPERATURE = 20000.0  # K
Timestep = Annotated[TimeFs, Field(ge=0.01, le=10.0, description="fs: MD beyond 10 fs explodes")]
DurationFs = Annotated[NonNegativeFloat, _quantity("time", "fs")]
RunFs = Annotated[TimeFs, SCALED]
RunDurationFs = Annotated[DurationFs, SCALED]
WallSeconds = Annotated[PositiveFloat, _quantity("time", "s")]
PressureBar = Annotated[float, _quantity("pressure", "bar")]
BarostatName = Literal[tuple(BAROSTATS)]
EnsembleName = Literal[tuple(ENSEMBLES)]
BackendName = Literal[tuple(BACKENDS)]
CouplingName = Literal[("auto", *COUPLINGS)]
ExecutorName = Literal[tuple(EXECUTORS)]


def _symbol(value: str) -> str:
    if value not in chemical_symbols or value == "X":
        raise ValueError(f"'{value}' is not a chemical element")
    return value


Species = Annotated[str, AfterValidator(_symbol)]


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


def available_cores() -> int:
    """The cores this process may use: a Slurm job's CPUs per task, else its CPU affinity."""
    for variable in ("SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return len(os.sched_getaffinity(0))


class ParslSettings(Strict):
    """Where Parsl runs the oracle calls (`oracle.executor: parsl`): this machine, or Slurm jobs."""

    provider: Literal["local", "slurm"] = "local"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    nodes_per_block: PositiveInt = Field(1, le=100_000, description="nodes per Slurm job")
    max_blocks: PositiveInt = Field(1, le=100_000, description="Slurm jobs at once")
    walltime: WallSeconds = Field(3600.0, le=30 * 86400.0, description="of each Slurm job")
    exclusive: bool = Field(False, description="ask Slurm for whole nodes")
    scheduler_options: str | None = Field(None, description="extra '#SBATCH ...' lines")
    worker_init: str | None = Field(None, description="shell lines each job runs first "
                                    "(module load ...); lotf puts its Python on PATH itself")
    address: str | None = Field(None, description="the campaign's address the jobs connect "
                                "to (default: Parsl's choice among this host's addresses)")
    lost_after: WallSeconds = Field(60.0, ge=2.0, le=86400.0, description="a job silent this "
                                    "long has lost its calls, which are retried")


class Oracle(Strict):
    """The reference calculator: a short name or 'module:Class', its keyword parameters, and limits."""

    calculator: str = "tblite"
    params: dict[str, Any] = Field(default_factory=dict)
    workers: PositiveInt = Field(1, le=4096, description="calls at once; 'auto': the cores this "
                                 "process may use (a Slurm job's SLURM_CPUS_PER_TASK) divided by "
                                 "threads_per_worker x ranks")
    threads_per_worker: PositiveInt = Field(1, le=1024)
    timeout: WallSeconds = Field(3600.0, le=30 * 86400.0, description="wall time allowed per call")
    max_attempts: PositiveInt = Field(2, le=100,
                                      description="tries before a configuration is quarantined")
    ranks: PositiveInt = Field(1, le=100_000, description="MPI ranks per call (workers x ranks "
                               "is what a node runs)")
    launcher: str | None = Field(None, min_length=1, description="how ranks are started, with "
                                 "{ranks}: e.g. 'mpiexec -n {ranks}', 'srun -n {ranks}' "
                                 "(default: the code's own)")
    reuse_calculator: bool | None = Field(
        None, description="keep one calculator per worker for calls with the same settings, "
        "reset between calls (default: the code's own choice)")
    executor: ExecutorName = Field(
        "local", description="local: worker processes of the campaign; parsl: Parsl apps, on "
        "this machine or as Slurm jobs (`parsl:`); mpi: groups of `ranks` ranks of the "
        "campaign's own MPI job (`workers` of them), started with it by mpiexec or srun")
    parsl: ParslSettings = ParslSettings()

    @model_validator(mode="before")
    @classmethod
    def _auto_workers(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("workers") != "auto":
            return data
        if (data.get("parsl") or {}).get("provider") == "slurm" and data.get("executor") == "parsl":
            raise ValueError("workers: auto counts this node's cores; with Parsl's Slurm jobs "
                             "give the calls per node of those jobs")
        if data.get("executor") == "mpi":
            raise ValueError("workers: auto counts this node's cores; with executor mpi give "
                             "the number of oracle groups the MPI job starts")
        try:
            per_call = int(data.get("threads_per_worker", 1)) * int(data.get("ranks", 1))
        except (TypeError, ValueError):
            return data  # the fields' own checks will name what is wrong
        return {**data, "workers": max(1, available_cores() // max(1, per_call))}

    @field_validator("calculator")
    @classmethod
    def _available(cls, name: str) -> str:
        from lotf.oracle.calculators import check_available

        check_available(name)
        return name

    @field_validator("launcher")
    @classmethod
    def _launcher(cls, launcher: str | None) -> str | None:
        if launcher is not None:
            try:
                launcher.format(ranks=1)
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(f"the launcher may name only {{ranks}} ({error})") from None
        return launcher

    @field_validator("executor")
    @classmethod
    def _executor(cls, executor: str) -> str:
        if executor == "parsl" and importlib.util.find_spec("parsl") is None:
            raise ValueError("the parsl executor needs Parsl: pip install parsl")
        return executor

    @model_validator(mode="after")
    def _parallel(self) -> "Oracle":
        from lotf.oracle.calculators import SERIAL, resolve

        code = resolve(self.calculator)
        if self.ranks > 1 and code.mpi == SERIAL:
            raise ValueError(f"calculator '{self.calculator}' runs on one process: ranks must "
                             "be 1 (threads_per_worker gives it more cores)")
        if self.executor == "mpi" and self.ranks > 1 and code.group_keyword is None:
            raise ValueError(f"executor mpi runs a call on several ranks of lotf's own MPI job, "
                             f"which calculator '{self.calculator}' cannot (it takes no MPI "
                             "communicator): use ranks: 1, or executor local with a launcher")
        if self.executor == "mpi" and self.launcher is not None:
            raise ValueError("executor mpi runs the calls on ranks the MPI job already has: "
                             "it uses no launcher")
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
                                        description="breaks tolerated per phase before giving up")
    walkers: PositiveInt = Field(1, le=1024)
    asynchronous: bool = Field(
        False, description="while a break's selection is labelled, the walkers explore on with "
        "the potential that broke; their candidates join the next selection (faster with a slow "
        "oracle; the path then depends on timing, so a run is not reproduced step for step)")
    volume_margin: NonNegativeFloat | None = Field(
        0.05, description="NPT MD whose volume per atom leaves the training data's range by more "
        "than this fraction breaks, and that frame is labelled (a cell that expands into a gas "
        "keeps every neighbourhood grade low); null: no such break")

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


class RattleBootstrap(Strict):
    """Cheap diversity: rattled and randomly strained copies of each initial structure."""

    method: Literal["rattle"] = "rattle"
    count: PositiveInt = Field(20, le=100_000, description="copies per initial structure")
    rattle: NonNegativeFloat = Field(0.1, le=1.0,
                                     description="Å, standard deviation of displacements")
    strain: NonNegativeFloat = Field(0.03, lt=0.5, description="largest strain component")


class MDBootstrap(Strict):
    """Oracle-driven NVT MD from each initial structure, keeping a frame every `every` after
    `discard` (the paper: 15 ps AIMD at 1000 K, first 2 ps dropped, a frame every 10 fs)."""

    method: Literal["md"]
    temperature: PositiveFloat = Field(1000.0, le=MAX_TEMPERATURE, description="K")
    timestep: Timestep = 1.0
    length: Annotated[RunFs, Field(le=MAX_MD_FS)]
    discard: RunDurationFs = Field(0.0, description="equilibration not kept for training")
    every: TimeFs = Field(10.0, description="time between kept frames")

    @model_validator(mode="after")
    def _times(self) -> "MDBootstrap":
        if self.discard >= self.length:
            raise ValueError(f"discard ({self.discard} fs) leaves nothing of length "
                             f"({self.length} fs)")
        if self.every < self.timestep:
            raise ValueError(f"every ({self.every} fs) is shorter than a timestep "
                             f"({self.timestep} fs)")
        return self


class LabelledFile(StructureFile):
    """Labelled frames to import: extxyz with energies and forces, MLIP .cfg, VASP OUTCAR, ..."""

    index: str = ":"


class ImportBootstrap(Strict):
    """Labelled data from files, computed with the same reference as the oracle (same
    functional and settings: they are trained on together)."""

    method: Literal["import"]
    files: list[LabelledFile] = Field(min_length=1)

    @field_validator("files")
    @classmethod
    def _labelled(cls, files: list[LabelledFile], info: ValidationInfo) -> list[LabelledFile]:
        """Every frame carries energy and forces, of the campaign's species (read to check)."""
        species = (info.context or {}).get("species")
        for index, source in enumerate(files):
            for number, atoms in enumerate(source.read(species)):
                extra = set(atoms.get_chemical_symbols()) - set(species or [])
                if species and extra:
                    raise ValueError(f"[{index}] {source.file.name}: frame {number} contains "
                                     f"{sorted(extra)}, not in species {species}")
                results = atoms.calc.results if atoms.calc is not None else {}
                if "energy" not in results or "forces" not in results:
                    raise ValueError(f"[{index}] {source.file.name}: frame {number} has no "
                                     "energy and forces to import")
        return files


def _bootstrap_method(value: Any) -> str:
    return value.get("method", "rattle") if isinstance(value, dict) else value.method


Bootstrap = Annotated[
    Annotated[RattleBootstrap, Tag("rattle")] | Annotated[MDBootstrap, Tag("md")]
    | Annotated[ImportBootstrap, Tag("import")],
    Discriminator(_bootstrap_method),
]


class Consolidate(Strict):
    """Other campaigns' run directories whose labels, with this campaign's own, train one
    potential (the paper's single MTP for Li3PS4, Li3B11O18 and their interface)."""

    campaigns: list[Path] = Field(min_length=1)

    @field_validator("campaigns")
    @classmethod
    def _run_directories(cls, paths: list[Path], info: ValidationInfo) -> list[Path]:
        base = (info.context or {}).get("base_dir", Path.cwd())
        found = []
        for index, path in enumerate(paths):
            full = (base / path).resolve()
            if not (full / "ledger.db").is_file():
                raise ValueError(f"[{index}] '{path}' is not a run directory with a ledger.db "
                                 f"(looked in {full})")
            found.append(full)
        return found


def _ladder(value: Any) -> Any:
    """{start, step, lowest} in K: the descending ladder start, start - step, ... >= lowest."""
    if not isinstance(value, dict):
        return value
    if set(value) != {"start", "step", "lowest"} or not all(
            isinstance(v, int | float) and v > 0 for v in value.values()):
        raise ValueError("give a list of temperatures in K, or {start, step, lowest} in K")
    count = int((value["start"] - value["lowest"]) // value["step"]) + 1
    return [value["start"] - i * value["step"] for i in range(max(count, 0))]


class InterfaceTransport(Strict):
    """Transport across the interfaces of a cell stacked along c: displacements along the normal
    and crossing events (the mobile ion bonded to the anions of both sides, not `lag` before)."""

    anions: dict[Species, PositiveFloat] = Field(
        min_length=2, description="bond cutoff (Å) from the mobile ion to each side's anion")
    normal: tuple[float, float, float] = (0.0, 0.0, 1.0)
    lag: TimeFs = Field(1000.0, description="a crossing is new if not bonded to both this before")
    bins: PositiveInt = 40


class Diffusion(Strict):
    """Tracer diffusion of one species at fixed cell over a temperature ladder, each run under
    grade watch (a break retrains and the run starts again), then a weighted Arrhenius fit.
    The ladder stops at the first temperature without a site-to-site hop (the paper's rule)."""

    species: Species = "Li"
    temperatures: Annotated[list[Annotated[PositiveFloat, Field(le=MAX_TEMPERATURE)]],
                            BeforeValidator(_ladder)] = Field(
        min_length=2, max_length=1000, description="K, run in this order; or {start, step, lowest}")
    stop_without_hops: bool = Field(
        True, description="skip the rest once a temperature shows under one effective hop")
    production: RunFs = Field(le=MAX_MD_FS,
                               description="clean MD per temperature (and per walker) analysed")
    equilibration: RunDurationFs = Field(0.0, le=MAX_MD_FS,
                                      description="clean MD before `production`, not analysed")
    length: RunFs = Field(5000.0, le=MAX_MD_FS, description="MD segment")
    timestep: Timestep = 2.0
    hop_length: PositiveFloat = Field(2.5, description="Å between sites, for N_eff")
    window: tuple[PositiveFloat, PositiveFloat] | None = Field(
        None, description="fit window in ps; default 10-50 % of the production run")
    conductivity_at: PositiveFloat = Field(300.0, description="K, for the extrapolated σ")
    directions: dict[str, tuple[float, float, float]] = Field(
        default_factory=dict, description="named directions for 1D D, e.g. {normal: [0, 0, 1]}")
    interface: InterfaceTransport | None = None
    audit_frames: NonNegativeInt = Field(
        2, le=100_000, description="frames of each temperature's analysed run relabelled and held "
        "to the audit tolerances (a temperature beyond them is flagged); 0: none")

    @field_validator("directions")
    @classmethod
    def _nonzero(cls, directions: dict) -> dict:
        for name, vector in directions.items():
            if name in ("total", "x", "y", "z") or not any(vector):
                raise ValueError(f"direction '{name}' needs a new name and a nonzero vector")
        return directions

    def phases(self) -> list[Phase]:
        """One NVT learning phase per temperature, converged after equilibration + production
        clean."""
        return [Phase(name=f"diffusion-{t:g}K", ensemble="nvt", temperature=t,
                      timestep=f"{self.timestep!r} fs", length=f"{self.length!r} fs",
                      converge_after=f"{self.equilibration + self.production!r} fs")
                for t in self.temperatures]


class MeltQuench(Strict):
    """The paper's glass protocol: NPT melt, linear NPT cooling, NPT equilibration at the final
    temperature, then NVT production (analysed by the `structure` stage)."""

    melt_temperature: PositiveFloat = Field(1000.0, le=MAX_TEMPERATURE)
    melt: RunDurationFs = Field(20000.0, le=MAX_MD_FS, description="NPT at melt_temperature")
    temperature: PositiveFloat = Field(300.0, le=MAX_TEMPERATURE,
                                       description="K, the glass's final temperature")
    cool: RunDurationFs = Field(2e6, le=MAX_MD_FS,
                             description="linear NPT ramp (the paper: 2 ns, 3.5e11 K/s)")
    equilibrate: RunDurationFs = Field(1e6, le=MAX_MD_FS, description="NPT at `temperature`")
    production: RunFs = Field(1e6, le=MAX_MD_FS,
                               description="NVT at `temperature`, the frames analysed")
    pressure: PressureBar = Field(1.01325, description="for the NPT steps (default 1 atm)")
    barostat: BarostatName = Field(
        "iso", description="for the NPT steps: iso keeps a bulk glass's shape; xy or z for "
        "interface cells")
    start: Literal["auto", "learned", "initial"] = Field(
        "auto", description="what is melted: each walker's learned cell (the learn stage's last "
        "restart point, at the density NPT found), the initial structures, or auto: learned "
        "when this campaign's stages learn, else initial")
    supercell: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        (1, 1, 1), description="repeat each start cell (the paper: 2 x 2 x 2 of the 96-atom "
        "cell learned on)")
    minimize: NonNegativeInt = Field(
        200, le=100_000, description="FIRE steps (positions, on the newest potential) before "
        "melting initial structures, so a random packing's close contacts do not start the "
        "melt with a pressure spike; learned cells come from MD and are not minimised; 0: none")
    timestep: Timestep = 2.0
    chunk: RunFs = Field(10000.0, description="MD per call; a break reruns one chunk")

    def steps(self) -> list[Step]:
        """The schedule, leaving out steps of zero duration."""
        hot, cold, p, b = self.melt_temperature, self.temperature, self.pressure, self.barostat
        steps = [Step("melt", "npt", hot, hot, self.melt, p, b),
                 Step("cool", "npt", hot, cold, self.cool, p, b),
                 Step("equilibrate", "npt", cold, cold, self.equilibrate, p, b),
                 Step("production", "nvt", cold, cold, self.production, None)]
        return [step for step in steps if step.duration_fs > 0]


def _pairs(pairs: Any) -> Any:
    for pair in pairs if isinstance(pairs, list | dict) else []:
        parts = str(pair).split("-")
        if len(parts) != 2 or not all(p in chemical_symbols for p in parts):
            raise ValueError(f"'{pair}' is not a species pair such as 'P-S'")
    return pairs


class StructureAnalysis(Strict):
    """What the `structure` stage measures on the glasses' production frames."""

    rdf_max: PositiveFloat = Field(6.0, le=50.0, description="Å")
    bins: PositiveInt = Field(300, le=100_000)
    coordination: Annotated[list[str], AfterValidator(_pairs)] = Field(
        default_factory=list, description="pairs 'A-B' to report; default: every pair")
    bond_cutoffs: Annotated[dict[str, PositiveFloat], AfterValidator(_pairs)] = Field(
        default_factory=dict, description="Å by pair; default: the RDF's first minimum")
    units: list[str] = Field(default_factory=list, description="isolated units, e.g. [PS4]")
    valences: dict[Species, int] | None = Field(None, description="for the GII; default: guessed")
    gii_frames: PositiveInt = Field(50, le=100_000, description="frames per replica for the GII")
    crystal: StructureFile | None = Field(None, description="reference crystal for the RDF")

    @field_validator("units")
    @classmethod
    def _units(cls, units: list[str]) -> list[str]:
        from lotf.build.units import polyhedron

        for unit in units:
            polyhedron(unit)  # ValueError naming the known units
        return units


class Energetics(Strict):
    """Energies of the glasses: per formula unit, against a crystal, and of interfaces (eq. 4)."""

    formula: str | None = Field(None, description="formula unit, e.g. Li3PS4; default: reduced")
    crystal: StructureFile | None = Field(None, description="crystal for the amorphization energy")
    bulks: list[StructureFile] = Field(
        default_factory=list, description="bulk glass frames (extxyz, index ':') for eq. 4")


class Audit(Strict):
    """Relabel a sample of the glasses' production frames and hold the potential to the oracle
    there; worse than a tolerance, the labels join the training set, the potential is retrained
    and the melt-quench rerun on it, until the audit passes or `rounds` are spent."""

    frames: PositiveInt = Field(16, le=100_000, description="frames relabelled per round")
    energy_rmse: PositiveFloat = Field(10.0, description="meV/atom")
    forces_rmse: PositiveFloat = Field(0.3, description="eV/Å")
    pressure_rmse: PositiveFloat = Field(0.3, description="GPa: a pressure error biases the "
                                         "glass's density")
    rounds: PositiveInt = Field(3, le=100, description="audits at most (retrainings: one less)")


class Validation(Strict):
    """Relabel frames of the converged MD with the oracle (the paper: 200 snapshots)."""

    frames: PositiveInt = Field(50, le=100_000)


def _known_stage(name: str) -> str:
    from lotf.stages import STAGES

    if name not in STAGES:
        raise ValueError(f"unknown stage '{name}' (available: {', '.join(STAGES)})")
    return name


class Campaign(Strict):
    """A whole campaign: what to simulate, how to label, learn and explore, which stages to run."""

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
    bootstrap: Bootstrap = RattleBootstrap()
    md: MD = MD()
    validation: Validation = Validation()
    audit: Audit = Audit()
    consolidate: Consolidate | None = None
    diffusion: Diffusion | None = None
    melt_quench: MeltQuench | None = None
    structure: StructureAnalysis = StructureAnalysis()
    energetics: Energetics = Energetics()
    stages: list[Annotated[str, AfterValidator(_known_stage)]] = Field(
        default_factory=lambda: ["bootstrap"], min_length=1
    )


def load_config(path: str | Path, base_dir: Path | None = None) -> Campaign:
    """Read and validate a campaign file; any problem raises a one-line UserError.

    Relative file paths in it are taken from `base_dir`, by default the file's own folder.
    """
    path = Path(path)
    text = _read_text(path)
    data, lines = _parse_yaml(text, path)
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: the campaign must be a mapping of keys (name, system, ...)")
    factor = data.get("time_scale", 1.0)
    if isinstance(factor, int | float) and not isinstance(factor, bool) and 0 < factor < 1:
        data = scale_times(data, Campaign, float(factor))
    try:
        campaign = Campaign.model_validate(data, context={
            "base_dir": base_dir or path.parent.resolve(), "species": _species(data)})
    except ValidationError as error:
        raise UserError(_describe(error, data, lines, path)) from None
    from lotf.crosscheck import problems  # it reads the stage registry, which imports this

    found = problems(campaign)
    if found:
        keys, message = found[0]
        more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
        line = next(lines[keys[:n]] for n in range(len(keys), -1, -1) if keys[:n] in lines)
        raise UserError(f"{path}:{line}: {_dotted(keys)}: {message}{more}")
    return campaign


def _read_text(path: Path) -> str:
    """The config file as text; a folder, a binary, an oversized or a non-UTF-8 file is refused."""
    if path.is_dir():
        raise UserError(f"'{path}' is a folder, not a campaign file")
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise UserError(f"{path}: {size} bytes is too large for a campaign file (at most "
                        f"{MAX_CONFIG_BYTES})")
    data = path.read_bytes()
    if b"\0" in data:
        raise UserError(f"{path}: this is a binary file, not a YAML campaign")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte {error.start}); save the file "
                        "as UTF-8") from None


def _species(data: dict) -> list[str] | None:
    """The campaign's species as written, for checks that need them (None if malformed)."""
    species = (data.get("system") or {}).get("species") if isinstance(data.get("system"), dict) \
        else None
    return species if isinstance(species, list) and all(isinstance(s, str) for s in species) \
        else None


def _parse_yaml(text: str, path: Path) -> tuple[Any, dict[tuple, int]]:
    """The data and, for every key path, the 1-based line where it is written."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None and _expanded_size(root, {}) > MAX_CONFIG_NODES:
            raise UserError(f"{path}:1: its YAML aliases expand to more than {MAX_CONFIG_NODES} "
                            "values (an alias bomb?)")
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"{mark.line + 1}" if mark else "1"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}:{line}: not valid YAML: {problem}") from None
    except RecursionError:
        raise UserError(f"{path}:1: the YAML is nested too deeply for a campaign") from None
    lines: dict[tuple, int] = {}
    if root is not None:
        _index_lines(root, (), lines, path)
    return data, lines


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the document holds once every alias is expanded (counted, not built)."""
    if id(node) not in sizes:
        sizes[id(node)] = 1  # a node that contains itself counts once
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) \
            else node.value if isinstance(node, yaml.SequenceNode) else []
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def _index_lines(node: yaml.Node, prefix: tuple, lines: dict[tuple, int], path: Path) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise UserError(
                    f"{path}:{key_node.start_mark.line + 1}: {_dotted(prefix + (key,))}: "
                    "key given twice"
                )
            seen.add(key)
            _index_lines(value_node, prefix + (key,), lines, path)
            lines[prefix + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, prefix + (index,), lines, path)


def _describe(error: ValidationError, data: Any, lines: dict[tuple, int], path: Path) -> str:
    """One line for the first problem, naming the key path and its YAML line."""
    problems = error.errors(include_url=False)
    first = problems[0]
    keys = _data_path(first["loc"], data)
    line = next(lines[keys[:n]] for n in range(len(keys), -1, -1) if keys[:n] in lines)
    message = _message(first, keys)
    others = {_data_path(p["loc"], data) for p in problems} - {keys}
    more = f" (and problems at {len(others)} more keys)" if others else ""
    where = _dotted(keys) or "top level"
    return f"{path}:{line}: {where}: {message}{more}"


def _data_path(loc: tuple, data: Any) -> tuple:
    """The error location without union tags ('<built>'), so it names only keys the user wrote.

    A part not in the data is a missing key if it is the last part, under a mapping.
    """
    keys: tuple = ()
    node = data
    for position, part in enumerate(loc):
        present = (part in node) if isinstance(node, dict) else (
            isinstance(node, list) and isinstance(part, int) and part < len(node))
        if present:
            node = node[part]
        elif isinstance(node, dict) and position == len(loc) - 1 and not str(part).startswith("<"):
            node = None
        else:
            continue
        keys += (part,)
    return keys


def _message(problem: dict, keys: tuple) -> str:
    kind, text = problem["type"], problem["msg"]
    if kind == "extra_forbidden":
        return f"unknown key '{keys[-1]}'"
    if kind == "missing":
        return "this key is required"
    if kind == "union_tag_invalid":  # an unknown builder or method: name the known ones
        value = problem["input"]
        key = next(k for k, v in value.items() if f"{v}" == problem["ctx"]["tag"].strip("<>"))
        known = [t.strip("'<> ") for t in problem["ctx"]["expected_tags"].split(",")]
        return (f"unknown {key} '{value[key]}' (known: "
                f"{', '.join(t for t in known if t != 'read')})")
    text = text.removeprefix("Value error, ")
    if kind not in {"value_error", "assertion_error"} and "input" in problem:
        value = problem["input"]
        if not isinstance(value, dict | list):
            text += f" (got {value!r})"
    return text


def _dotted(keys: tuple) -> str:
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
