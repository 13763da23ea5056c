"""Bootstrap: the first labelled data, before any potential exists.

Three methods, one function each, registered by the config model they take: rattled copies of
the initial structures, oracle-driven MD from them, or labelled frames imported from files.
Every label goes through the ledger, so a killed bootstrap resumes without repeating a call.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from pydantic import (
    Discriminator,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lotf.build.files import StructureFile
from lotf.config import Campaign
from lotf.context import Context
from lotf.crosscheck import atom_counts, parameter_count
from lotf.errors import StageFailed, UserError
from lotf.labelling import LabelReport, label
from lotf.ledger import MD_STEP, OK, content_key
from lotf.log import logger, track
from lotf.model import Strict
from lotf.oracle import Pool, fingerprint, open_pool
from lotf.quantities import (
    MAX_MD_FS,
    MAX_TEMPERATURE,
    RunDurationFs,
    RunFs,
    TimeFs,
    Timestep,
)
from lotf.registry import registrar
from lotf.stages.registry import Problem, Section, register_stage
from lotf.store import BOOTSTRAP_START, read_structures, write_structures


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

SOURCE = "bootstrap"
LANGEVIN_DAMPING_FS = 100.0  # thermostat time constant of the oracle MD

Method = Callable[[Context], dict]
METHODS: dict[type, Method] = {}
bootstrap_method = registrar(METHODS)  # @bootstrap_method(SpecModel) on a bootstrap function


def too_few_rows(config: Campaign, atom_counts: list[int]) -> str | None:
    """Why the bootstrap of start structures with these atom counts cannot give the first
    potential its active set (a neighbourhood, or a configuration, per parameter), or None.
    Without a stage that trains on the bootstrap's labels alone there is nothing to check."""
    names = config.stages
    trains = [n for n in ("learn", "melt_quench", "diffusion") if n in names]
    if "bootstrap" not in names or not trains or (
            "consolidate" in names and names.index("consolidate") < names.index(trains[0])):
        return None
    spec = config.bootstrap
    if isinstance(spec, ImportBootstrap):
        frames = [len(atoms) for source in spec.files for atoms in source.read()]
        copies, atom_counts = 1, frames
    elif isinstance(spec, MDBootstrap):
        steps, first = round(spec.length / spec.timestep), round(spec.discard / spec.timestep)
        copies = len(range(first, steps + 1, max(1, round(spec.every / spec.timestep))))
    else:
        copies = spec.count
    neighbourhoods = config.active_learning.grade_mode == "neighbourhood"
    per_copy = sum(atom_counts) if neighbourhoods else len(atom_counts)
    rows, need = copies * per_copy, parameter_count(config)
    if rows >= need:
        return None
    what = "neighbourhoods" if neighbourhoods else "configurations"
    advice = f"raise bootstrap.count to at least {-(-need // per_copy)}" \
        if isinstance(spec, RattleBootstrap) else "label more frames"
    return (f"the bootstrap gives {rows} {what} ({copies} x {per_copy}), but a level-"
            f"{config.potential.level} MTP of {len(config.system.species)} species has {need} "
            f"parameters and its active set needs one {what[:-1]} per parameter: {advice}")


def _check(config: Campaign) -> list[Problem]:
    """The bootstrap must give the first potential's active set a row per parameter (where the
    start structures' atom counts are known without building them)."""
    counts = atom_counts(config)
    shortfall = too_few_rows(config, counts) if counts is not None else None
    return [(("bootstrap",), shortfall)] if shortfall else []


@register_stage("bootstrap", section=Section("bootstrap", Bootstrap, RattleBootstrap()),
                check=_check)
def bootstrap(ctx: Context) -> dict:
    """Run the campaign's bootstrap method; fail if it produced no usable label. Before any
    call, check on the structures as built that the labels will be enough to train on."""
    shortfall = too_few_rows(ctx.config, [len(atoms) for atoms in ctx.initial_structures()])
    if shortfall:
        raise UserError(f"bootstrap: {shortfall}")
    summary = METHODS[type(ctx.config.bootstrap)](ctx)
    if summary["labelled"] == 0:
        raise StageFailed(f"bootstrap: no structure could be labelled; see the calls' logs under "
                          f"{ctx.run.oracle_calls}")
    return summary


# --- rattled copies ---------------------------------------------------------------------------
def rattled_copies(structures: list[Atoms], spec: RattleBootstrap, seed: int) -> list[Atoms]:
    """`spec.count` copies of each structure, randomly strained and with Gaussian displacements."""
    copies = []
    for index, atoms in enumerate(structures):
        for copy_index in range(spec.count):
            rng = np.random.default_rng([seed, index, copy_index])
            strain = rng.uniform(-spec.strain, spec.strain, (3, 3))
            strain = (strain + strain.T) / 2
            copy = atoms.copy()
            copy.calc = None
            copy.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
            copy.positions += rng.normal(0.0, spec.rattle, copy.positions.shape)
            copies.append(copy)
    return copies


@bootstrap_method(RattleBootstrap)
def rattle(ctx: Context) -> dict:
    """Make the rattled structures once, save them, and label whatever the ledger lacks."""
    path = ctx.run.bootstrap_frames
    if path.is_file():
        candidates = read_structures(path)
    else:
        candidates = write_structures(
            path, rattled_copies(ctx.initial_structures(), ctx.config.bootstrap, ctx.config.seed))
    logger.info("bootstrap: %d structures to label with %s", len(candidates),
                ctx.config.oracle.calculator)
    report = label(candidates, ctx.ledger, ctx.config.oracle, ctx.run.oracle_calls, SOURCE)
    logger.info("bootstrap: %s", report.summary())
    return _summary(len(candidates), report)


# --- oracle-driven MD ---------------------------------------------------------------------------
class _LedgerCalculator(Calculator):
    """An ASE calculator whose every evaluation is a ledger lookup or an oracle call.

    A resumed run replays the MD deterministically (same seeds, labels read back bit for bit
    from the ledger even on the first run), so the steps done before a kill cost lookups only.
    """

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, ctx: Context, pool: Pool):
        super().__init__()
        self.ctx, self.pool = ctx, pool
        self.source, self.step = MD_STEP, 0
        self.report = LabelReport()
        self._fingerprint = fingerprint(ctx.config.oracle.calculator, ctx.config.oracle.params)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        bare = _frame(self.atoms)  # labels are the oracle's, with no constraint applied
        self.report += label([bare], self.ctx.ledger, self.ctx.config.oracle,
                             self.ctx.run.oracle_calls, self.source, self.pool)
        entry = self.ctx.ledger.get(content_key(bare, self._fingerprint))
        if entry is None or entry.status != OK:
            raise StageFailed(f"bootstrap MD: the oracle failed at step {self.step} and the "
                              f"trajectory cannot go on; see {self.ctx.run.oracle_calls}")
        self.results = {name: value for name, value in entry.atoms.calc.results.items()
                        if value is not None}


@bootstrap_method(MDBootstrap)
def oracle_md(ctx: Context) -> dict:
    """NVT Langevin MD with the oracle from each initial structure; frames after `discard`,
    every `every`, are training data (source `bootstrap`), the steps between are kept apart."""
    spec: MDBootstrap = ctx.config.bootstrap
    kept: list[Atoms] = []
    initial = ctx.initial_structures()
    logger.info("bootstrap: oracle MD (%s) at %.0f K for %.0f fs from %d structure(s), a frame "
                "kept every %.0f fs after %.0f fs", ctx.config.oracle.calculator,
                spec.temperature, spec.length, len(initial), spec.every, spec.discard)
    oracle = ctx.config.oracle
    with open_pool(oracle, ctx.run.oracle_calls) as pool:
        calculator = _LedgerCalculator(ctx, pool)
        for index, start in enumerate(initial):
            kept += _trajectory(start, index, spec, calculator, ctx.config.seed)
    write_structures(ctx.run.bootstrap_frames, kept)
    logger.info("bootstrap: %d frames kept of %d steps; %s", len(kept),
                calculator.report.requested, calculator.report.summary())
    return _summary(len(kept), calculator.report)


def _trajectory(start: Atoms, index: int, spec: MDBootstrap, calculator: _LedgerCalculator,
                seed: int) -> list[Atoms]:
    """One oracle MD from `start`, reproducible from (seed, index); returns its kept frames."""
    steps = round(spec.length / spec.timestep)
    first_kept = round(spec.discard / spec.timestep)
    stride = max(1, round(spec.every / spec.timestep))
    atoms = start.copy()
    rng = np.random.default_rng([seed, index])
    MaxwellBoltzmannDistribution(atoms, temperature_K=spec.temperature, rng=rng)
    Stationary(atoms)
    atoms.calc = calculator
    atoms.set_constraint(FixCom())  # no drift of the whole cell (ASE's way since 3.28)
    dynamics = Langevin(atoms, spec.timestep * units.fs, temperature_K=spec.temperature,
                        friction=1.0 / (LANGEVIN_DAMPING_FS * units.fs), fixcm=False,
                        rng=np.random.RandomState(rng.integers(2**31)))
    kept, forces = [], None
    with track(f"oracle MD from structure {index}", steps + 1) as tracker:
        for step in range(steps + 1):
            keep = step >= first_kept and (step - first_kept) % stride == 0
            calculator.step, calculator.source = step, SOURCE if keep else MD_STEP
            forces = atoms.get_forces() if step == 0 else dynamics.step(forces)
            if keep:
                kept.append(_frame(atoms))
                kept[-1].info[BOOTSTRAP_START] = index  # its last frame starts the learning
            tracker.advance(f"{atoms.get_temperature():.0f} K")
    return kept


def _frame(atoms: Atoms) -> Atoms:
    """A bare copy: no calculator, no constraint (the MD's FixCom is not the structure's)."""
    frame = atoms.copy()
    frame.calc = None
    frame.set_constraint()
    return frame


# --- imported labels ------------------------------------------------------------------------
@bootstrap_method(ImportBootstrap)
def import_labels(ctx: Context) -> dict:
    """Enter each labelled frame of the files into the ledger (once), under the campaign's
    oracle: the user vouches that they come from the same reference."""
    config = ctx.config
    key_of = fingerprint(config.oracle.calculator, config.oracle.params)
    report = LabelReport()
    for source in config.bootstrap.files:
        frames = source.read(config.system.species)
        for atoms in frames:
            report.requested += 1
            if ctx.ledger.record_imported(atoms, key_of, f"import:{source.file.name}",
                                          str(source.file)):
                report.labelled += 1
            else:
                report.cached += 1
        logger.info("bootstrap: %d frames from %s", len(frames), source.file)
    logger.info("bootstrap: %d imported, %d already in the ledger", report.labelled,
                report.cached)
    return _summary(report.requested, report)


def _summary(structures: int, report: LabelReport) -> dict:
    return {"structures": structures, "labelled": report.usable, "quarantined": report.quarantined}
