"""The `energetics` stage: energies of the glasses with the final potential, with standard errors
over replicas and frames (lotf.analysis.energetics).

Every production frame is evaluated again with the final potential, so all energies come from
one potential. Reports the energy per formula unit; against `energetics.crystal` the
amorphization energy, the crystal first relaxed with the same potential (positions and cell, at
the melt-quench's pressure) and, as a supercell about the glass's size, labelled once by the
oracle to check the potential there; and for interface cells (built by the `interface` builder)
the interface energy by eq. 4 against the `energetics.bulks` frames, also evaluated with this
potential. Writes "energetics" in results.json, with plain flags where a number means little.
"""

import math

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.formula import Formula
from ase.io import write as ase_write
from pydantic import Field, PositiveFloat, PositiveInt

from lotf.analysis.energetics import (
    EV_PER_A2_TO_MJ_PER_M2,
    Estimate,
    amorphization_energy,
    composition_of,
    decompose,
    ensemble_mean,
    interface_energy,
    per_formula_unit,
)
from lotf.auditing import describe, oracle_errors
from lotf.build.amorphous import AmorphousSpec
from lotf.build.files import StructureFile
from lotf.calculator import MTP
from lotf.config import Campaign
from lotf.context import Context
from lotf.crosscheck import composition, made_of
from lotf.errors import StageFailed
from lotf.learning.learner import Learner
from lotf.log import logger
from lotf.model import Strict
from lotf.potential import Potential
from lotf.protocols.relax import relax
from lotf.protocols.runner import glass_frames
from lotf.report import add_result
from lotf.stages.registry import Problem, Section, register_stage
from lotf.units import density_g_cm3


class Crystal(StructureFile):
    """The crystal the glass's amorphization energy is taken against."""

    relax: bool = Field(True, description="relax positions and cell with the final potential "
                                          "first, at melt_quench.pressure")
    fmax: PositiveFloat = Field(0.01, description="eV/Å, the relaxation's force tolerance")
    steps: PositiveInt = Field(2000, description="at most this many relaxation steps")
    check: bool = Field(True, description="label the relaxed crystal, repeated to about the "
                                          "glass cell's size, with the oracle (one call)")


class Energetics(Strict):
    """Energies of the glasses: per formula unit, against a crystal, and of interfaces (eq. 4)."""

    formula: str | None = Field(None, description="formula unit, e.g. Li3PS4; default: reduced")
    crystal: Crystal | None = Field(None, description="crystal for the amorphization energy")
    bulks: list[StructureFile] = Field(
        default_factory=list, description="bulk glass frames (extxyz, index ':') for eq. 4")

def _check(config: Campaign) -> list[Problem]:
    """energetics.formula: a formula of the system's species, that packed boxes are made of;
    energetics.crystal: of the system's species (the potential knows no other)."""
    crystal = config.energetics.crystal
    if crystal is not None:
        unknown = sorted(crystal.symbols() - set(config.system.species))
        if unknown:
            return [(("energetics", "crystal"), f"'{crystal.file.name}' has {', '.join(unknown)}"
                                                f", not in system.species {config.system.species}")]
    text = config.energetics.formula
    if text is None:
        return []
    where = ("energetics", "formula")
    try:
        counts = Formula(text).count()
    except ValueError:
        counts = {}
    unknown = [s for s in counts if s not in chemical_symbols or s == "X"]
    if not counts or unknown:
        return [(where, f"'{text}' is not a chemical formula (e.g. Li3PS4)")]
    missing = sorted(set(counts) - set(config.system.species))
    if missing:
        return [(where, f"'{text}' has {', '.join(missing)}, not in system.species "
                        f"{config.system.species}")]
    for index, spec in enumerate(config.system.structures):
        if isinstance(spec, AmorphousSpec) and not made_of(composition(spec), counts):
            return [(where, f"system.structures[{index}] ({composition(spec)}) is not made of "
                            f"whole {text} units")]
    return []


@register_stage("energetics", section=Section("energetics", Energetics, Energetics()),
                needs=("melt_quench",), trajectories=True, reports=True, check=_check)
def energetics(ctx: Context) -> dict:
    spec = ctx.config.energetics
    generation = ctx.run.latest_generation()
    potential = Learner(ctx).generation(generation)
    replicas = glass_frames(ctx)
    energies = [_energies(potential, frames) for frames in replicas]
    composition = composition_of(replicas[0][0].get_chemical_symbols())
    formula = _formula(spec.formula or replicas[0][0].get_chemical_formula(empirical=True))
    result: dict = {"formula": spec.formula or Formula.from_dict(formula).format("metal"),
                    "generation": generation, "frames": sum(len(e) for e in energies)}
    per_atom = ensemble_mean([e / len(replicas[0][0]) for e in energies])
    result["energy_per_atom_ev"] = per_atom.as_dict("ev")
    # an interface: bulks to compare with are given, or the cell was stacked by the builder
    if spec.bulks or "interface_area" in ctx.initial_structures()[0].info:
        result["interface"] = _interface(potential, spec.bulks, composition, energies, replicas)
        logger.info("energetics: interface energy %.0f ± %.0f mJ/m²",
                    result["interface"]["value_mj_per_m2"], result["interface"]["se_mj_per_m2"])
    else:
        try:
            fu = per_formula_unit(energies, composition, formula)
        except ValueError as reason:
            raise StageFailed(f"energetics: {reason} (energetics.formula)") from None
        result["energy_per_formula_unit_ev"] = fu.as_dict("ev")
        logger.info("energetics: %.4f ± %.4f eV per %s", fu.value, fu.se, result["formula"])
    flags = []
    if spec.crystal is not None:
        crystal = _against_crystal(ctx, generation, potential, spec.crystal, per_atom,
                                   replicas[0][0])
        flags += crystal.pop("flags")
        result.update(crystal)
    result["flags"] = flags
    for flag in flags:
        logger.warning("energetics: %s", flag)
    add_result(ctx.run, "energetics", result)
    return {"energy_per_atom_ev": per_atom.value}


def _energies(potential: Potential, frames: list[Atoms]) -> np.ndarray:
    return np.array([potential.evaluate(atoms).energy for atoms in frames])


def _formula(text: str) -> dict[str, int]:
    try:
        return Formula(text).count()
    except ValueError:
        raise StageFailed(f"energetics: '{text}' is not a chemical formula") from None


def _interface(potential: Potential, bulk_files, composition: dict[str, int],
               energies: list[np.ndarray], replicas: list[list[Atoms]]) -> dict:
    """Eq. 4 against the bulk glasses' frames, each bulk per its own reduced formula unit."""
    if len(bulk_files) < 1:
        raise StageFailed("energetics: an interface cell needs energetics.bulks (the bulk "
                          "glasses' frames, e.g. {file: lps.extxyz, index: ':'})")
    formulas, bulks = [], []
    for source in bulk_files:
        frames = source.read()
        formula = _formula(frames[0].get_chemical_formula(empirical=True))
        formulas.append(formula)
        bulks.append(per_formula_unit([_energies(potential, frames)],
                                      composition_of(frames[0].get_chemical_symbols()), formula))
    try:
        counts = decompose(composition, formulas)
    except ValueError as reason:
        raise StageFailed(f"energetics: {reason}") from None
    a, b, _ = replicas[0][0].cell
    area = float(np.linalg.norm(np.cross(a, b)))
    gamma = interface_energy(ensemble_mean(energies), bulks, counts, area)
    return {"area_angstrom2": area, "formula_units": counts.tolist(),
            "bulk_energies_ev_per_formula_unit": [b.as_dict("ev") for b in bulks],
            **gamma.as_dict("ev_per_angstrom2"),
            "value_mj_per_m2": gamma.value * EV_PER_A2_TO_MJ_PER_M2,
            "se_mj_per_m2": gamma.se * EV_PER_A2_TO_MJ_PER_M2,
            "value_mev_per_angstrom2": 1000 * gamma.value, "se_mev_per_angstrom2": 1000 * gamma.se}


def _against_crystal(ctx: Context, generation: int, potential: Potential, spec: Crystal,
                     glass: Estimate, like: Atoms) -> dict:
    """The crystal relaxed with `potential`, checked by the oracle, and the glass's excess
    energy over it; with a flag for each reason the number means little."""
    crystal = spec.read()[0]
    crystal.calc = None
    flags, entry = [], {"file": str(spec.file), "relaxed": spec.relax}
    if spec.relax:
        pressure = 1e-4 * ctx.config.melt_quench.pressure
        done = relax(crystal, MTP(potential), pressure, spec.fmax, spec.steps)
        crystal = done.atoms
        entry.update(converged=done.converged, steps=done.steps, pressure_gpa=pressure,
                     max_force_ev_per_a=done.max_force)
        if not done.converged:
            flags.append(f"the crystal's relaxation stopped after {done.steps} steps with forces "
                         f"up to {done.max_force:.3f} eV/Å (energetics.crystal.steps)")
        ase_write(ctx.run.relaxed_crystal, crystal)
    evaluation = potential.evaluate(crystal)
    reference = float(evaluation.energy) / len(crystal)
    entry.update(energy_per_atom_ev=reference, density_g_cm3=density_g_cm3(crystal),
                 cell=[round(float(x), 6) for x in crystal.cell.cellpar()])
    threshold = ctx.config.active_learning.select_threshold
    if evaluation.grade is not None:
        entry["grade"] = float(evaluation.grade)
        if evaluation.grade > threshold:
            flags.append(f"the relaxed crystal's extrapolation grade {evaluation.grade:.2f} is "
                         f"above the selection threshold {threshold:g}: the potential "
                         "extrapolates there")
    if spec.check:
        errors = oracle_errors(ctx, [crystal.repeat(_repeats(crystal, like))], potential,
                               generation)
        entry["oracle_check"] = errors
        tolerance = ctx.config.audit
        if errors is None:
            flags.append("the oracle could not label the crystal: its energy is unchecked")
        elif (abs(errors["energy_mean_error_mev_per_atom"]) > tolerance.energy_rmse
              or abs(errors["pressure_mean_error_gpa"]) > tolerance.pressure_rmse):
            flags.append(f"on the crystal the potential is off by {describe(errors)} against "
                         "the oracle (beyond the audit tolerances): the amorphization energy "
                         "carries that error")
    excess = amorphization_energy(glass, reference)
    if excess.value < 0:
        flags.append(f"the glass lies {-excess.value:.1f} meV/atom below the crystal: the "
                     "crystal is not this potential's low-energy state, or the potential is "
                     "wrong on one of them")
    logger.info("energetics: crystal %.4f eV/atom (%s); amorphization energy %.1f ± %.1f "
                "meV/atom", reference, "relaxed" if spec.relax else "as given", excess.value,
                excess.se)
    return {"crystal": entry, "crystal_energy_per_atom_ev": reference,
            "amorphization_mev_per_atom": excess.as_dict("mev"), "flags": flags}


def _repeats(crystal: Atoms, like: Atoms) -> tuple[int, int, int]:
    """How often to repeat `crystal` along each axis so that its cell is about as wide as the
    glass cell `like` (an oracle with fixed k-points or Γ only then means the same on both)."""
    width = min(like.cell.lengths())
    return tuple(max(1, math.ceil(0.95 * width / length)) for length in crystal.cell.lengths())
