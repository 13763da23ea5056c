"""The `energetics` stage: energies of the glasses with the final potential, with standard errors
over replicas and frames (lotf.analysis.energetics).

Every production frame is evaluated again with the final potential, so all energies come from
one potential. Reports the energy per formula unit; against `energetics.crystal` the
amorphization energy (the crystal as given: relax it first with the reference method); and for
interface cells (built by the `interface` builder) the interface energy by eq. 4 against the
`energetics.bulks` frames, also evaluated with this potential. Writes "energetics" in
results.json.
"""


import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.formula import Formula
from pydantic import Field

from lotf.analysis.energetics import (
    EV_PER_A2_TO_MJ_PER_M2,
    amorphization_energy,
    composition_of,
    decompose,
    ensemble_mean,
    interface_energy,
    per_formula_unit,
)
from lotf.build.amorphous import AmorphousSpec
from lotf.build.files import StructureFile
from lotf.config import Campaign
from lotf.context import Context
from lotf.crosscheck import composition, made_of
from lotf.errors import StageFailed
from lotf.learning.learner import Learner
from lotf.log import logger
from lotf.model import Strict
from lotf.potential import Potential
from lotf.protocols.runner import glass_frames
from lotf.report import add_result
from lotf.stages.registry import Problem, Section, register_stage


class Energetics(Strict):
    """Energies of the glasses: per formula unit, against a crystal, and of interfaces (eq. 4)."""

    formula: str | None = Field(None, description="formula unit, e.g. Li3PS4; default: reduced")
    crystal: StructureFile | None = Field(None, description="crystal for the amorphization energy")
    bulks: list[StructureFile] = Field(
        default_factory=list, description="bulk glass frames (extxyz, index ':') for eq. 4")

def _check(config: Campaign) -> list[Problem]:
    """energetics.formula: a formula of the system's species, that packed boxes are made of."""
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
    potential = Learner(ctx).generation(ctx.run.latest_generation())
    replicas = glass_frames(ctx)
    energies = [_energies(potential, frames) for frames in replicas]
    composition = composition_of(replicas[0][0].get_chemical_symbols())
    formula = _formula(spec.formula or replicas[0][0].get_chemical_formula(empirical=True))
    result: dict = {"formula": spec.formula or Formula.from_dict(formula).format("metal"),
                    "frames": sum(len(e) for e in energies)}
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
    if spec.crystal is not None:
        crystal = spec.crystal.read()[0]
        reference = float(potential.evaluate(crystal).energy) / len(crystal)
        excess = amorphization_energy(per_atom, reference)
        result["crystal_energy_per_atom_ev"] = reference
        result["amorphization_mev_per_atom"] = excess.as_dict("mev")
        logger.info("energetics: amorphization energy %.1f ± %.1f meV/atom", excess.value,
                    excess.se)
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
