"""The `melt_quench` stage: each start structure melted, cooled, equilibrated and sampled (the
paper's glass protocol) on the learned potential, under grade watch.

Writes the glasses to structures/melt-quench.extxyz, their density and energy to results.json
("melt_quench"), and figures/melt-quench-history.png (temperature, density, energy, pressure).
"""

from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_masses
from ase.optimize import FIRE
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from lotf.analysis.coverage import Labelled
from lotf.analysis.coverage import flags as coverage_flags
from lotf.calculator import MTP
from lotf.context import Context
from lotf.errors import StageFailed, UserError
from lotf.learning.learner import Learner
from lotf.ledger import oracle_id
from lotf.log import logger
from lotf.model import Strict
from lotf.offline import refuse_new
from lotf.oracle import fingerprint
from lotf.protocols.runner import history, run_protocol
from lotf.protocols.schedule import Step
from lotf.quantities import (
    MAX_MD_FS,
    MAX_TEMPERATURE,
    BarostatName,
    PressureBar,
    RunDurationFs,
    RunFs,
    Timestep,
)
from lotf.report import add_result, pyplot, save_figure
from lotf.stages.registry import LABELS, Section, register_stage
from lotf.store import read_structures, write_structures
from lotf.units import density_g_cm3, mass_density


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

MINIMIZE_FMAX = 0.1  # eV/Å: enough to separate close contacts; the melt does the rest
HISTORY = (("temp", "T (K)"), ("density", "ρ (g/cm³)"), ("pe_per_atom", "E (eV/atom)"),
           ("press", "p (bar)"))


@register_stage("melt_quench", section=Section("melt_quench", MeltQuench | None),
                needs=(LABELS,), reports=True)
def melt_quench(ctx: Context) -> dict:
    spec = ctx.config.melt_quench
    if spec is None:
        raise UserError("the melt_quench stage needs a `melt_quench:` section")
    replicas = _starts(ctx)
    name = ctx.run.MELT_QUENCH
    glasses = run_protocol(ctx, name, spec.steps(), spec.chunk, spec.timestep, replicas)
    write_structures(ctx.run.glasses, glasses)
    histories = [_with_density(history(ctx, name, r), replicas[r]) for r in range(len(replicas))]
    rows = [_summary(h, glass) for h, glass in zip(histories, glasses, strict=True)]
    densities = np.array([row["production_density_g_cm3"] for row in rows])
    result = {"replicas": rows, "density_g_cm3": float(densities.mean()),
              "density_spread_g_cm3": float(densities.std(ddof=1)) if len(rows) > 1 else 0.0,
              "schedule": [vars(step) for step in spec.steps()]}
    labels = ctx.ledger.labelled(oracle_id(fingerprint(ctx.config.oracle.calculator,
                                                       ctx.config.oracle.params)))
    result["flags"] = [flag for index, (row, glass) in enumerate(zip(rows, glasses, strict=True))
                       for flag in coverage_flags(
                           Labelled.of(labels, glass), row["production_energy_ev_per_atom"],
                           row["production_density_g_cm3"], f"glass {index}")]
    _history_figure(ctx, histories)
    add_result(ctx.run, "melt_quench", result)
    logger.info("melt-quench: %d glass(es) at %g K, density %.3f ± %.3f g/cm³", len(rows),
                spec.temperature, result["density_g_cm3"], result["density_spread_g_cm3"])
    for flag in result["flags"]:
        logger.warning("melt-quench: %s", flag)
    return {"replicas": len(rows), "density_g_cm3": result["density_g_cm3"],
            "generation": ctx.run.latest_generation()}


def _starts(ctx: Context) -> list[Atoms]:
    """The cells to melt: learned or initial (spec.start), repeated by spec.supercell."""
    spec = ctx.config.melt_quench
    start = spec.start
    if start == "auto":
        start = "learned" if "learn" in ctx.config.stages else "initial"
    if start == "initial":
        cells = _minimized(ctx, ctx.initial_structures())
    else:
        path = ctx.run.learned_cells
        if not path.is_file():
            raise StageFailed(f"melt_quench: start: learned, but {path} is missing; the learn "
                              "stage writes it once it converges")
        cells = read_structures(path)
    logger.debug("melt-quench: from the %s cell(s)%s", start, "" if spec.supercell == (1, 1, 1)
                 else f", each as a {' x '.join(map(str, spec.supercell))} supercell")
    return [cell.repeat(spec.supercell) for cell in cells]


def _minimized(ctx: Context, cells: list[Atoms]) -> list[Atoms]:
    """The initial cells relaxed in their positions by `melt_quench.minimize` FIRE steps on the
    newest potential, once (kept in structures/, so every resume melts the same starts)."""
    steps = ctx.config.melt_quench.minimize
    path = ctx.run.melt_starts
    if path.is_file():
        return read_structures(path)
    if not steps:
        return cells
    refuse_new("a minimisation")
    generation = ctx.run.latest_generation()
    calculator = MTP(Learner(ctx).generation(generation))
    relaxed = []
    for index, cell in enumerate(cells):
        atoms = cell.copy()
        atoms.calc = calculator
        before = atoms.get_potential_energy() / len(atoms)
        converged = FIRE(atoms, logfile=None).run(fmax=MINIMIZE_FMAX, steps=steps)
        logger.info("melt-quench: start %d minimised on generation %d: %.4f -> %.4f eV/atom, "
                    "largest force %.3f eV/Å%s", index, generation, before,
                    atoms.get_potential_energy() / len(atoms),
                    float(np.abs(atoms.get_forces()).max()),
                    "" if converged else f" (stopped after {steps} steps)")
        atoms.calc = None
        relaxed.append(atoms)
    if calculator.max_grade > ctx.config.active_learning.break_threshold:
        logger.warning("melt-quench: the minimisation went where the potential extrapolates "
                       "(grade %.3g); the melt's grade watch learns from there", calculator.max_grade)
    return write_structures(path, relaxed)


def _with_density(thermo: dict[str, list], atoms) -> dict[str, np.ndarray]:
    """The history as arrays, with the density and the energy per atom added."""
    arrays = {k: np.asarray(v) for k, v in thermo.items()}
    mass = float(np.sum(atomic_masses[atoms.numbers]))
    arrays["density"] = mass_density(mass, arrays["vol"])
    arrays["pe_per_atom"] = arrays["pe"] / len(atoms)
    return arrays


def _summary(thermo: dict[str, np.ndarray], glass) -> dict:
    """A replica's production averages (temperature, density, energy) and its final density."""
    production = thermo["stage"] == "production"
    if not production.any():  # a schedule without production: average its last step
        production = thermo["stage"] == thermo["stage"][-1]
    return {"production_temperature_k": float(thermo["temp"][production].mean()),
            "production_density_g_cm3": float(thermo["density"][production].mean()),
            "production_energy_ev_per_atom": float(thermo["pe_per_atom"][production].mean()),
            "final_density_g_cm3": density_g_cm3(glass)}


def _history_figure(ctx: Context, histories: list[dict[str, np.ndarray]]) -> None:
    """Temperature, density, energy and pressure against time for every replica, each step of
    the schedule marked and named (from the first replica's history)."""
    figure, axes = pyplot().subplots(len(HISTORY), 1, figsize=(6, 8), sharex=True)
    data = []
    for replica, thermo in enumerate(histories):
        for axis, (key, label) in zip(axes, HISTORY, strict=True):
            axis.plot(thermo["time_ps"], thermo[key], lw=0.8, label=f"replica {replica}")
            axis.set_ylabel(label)
        data += [{"replica": replica, "time_ps": float(t), "step": str(step),
                  **{key: float(thermo[key][k]) for key, _ in HISTORY}}
                 for k, (t, step) in enumerate(zip(thermo["time_ps"], thermo["stage"],
                                                   strict=True))]
    if histories:
        time, steps = histories[0]["time_ps"], histories[0]["stage"]
        starts = [k for k in range(len(steps)) if k == 0 or steps[k] != steps[k - 1]]
        for k in starts:
            for axis in axes:
                axis.axvline(time[k], color="grey", lw=0.6, ls=":")
            axes[0].annotate(str(steps[k]), (time[k], 1.0), xycoords=("data", "axes fraction"),
                             xytext=(2, 2), textcoords="offset points", fontsize=7)
    axes[0].legend(fontsize=7, loc="lower left")
    axes[-1].set_xlabel("time (ps)")
    save_figure(ctx.run, "melt-quench-history", figure, data)
