"""The `structure` stage: the glasses' structure from their melt-quench production frames.

Partial RDFs averaged over frames and replicas (figure with the crystal's for reference),
coordination numbers to the first minimum (or a given bond cutoff), coordination fractions and
isolated-unit fractions (PS4, BO3 vs BO4 ...), density over replicas, and the Global Instability
Index per frame against the frame's energy. Writes "structure" in results.json and the figures
structure-rdf.png and structure-gii.png.
"""

from typing import Annotated, Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from pydantic import AfterValidator, Field, PositiveFloat, PositiveInt, field_validator

from lotf.analysis.bond_valence import formal_valences, global_instability_index
from lotf.analysis.structure import RDF, coordination_fractions, isolated_unit_fraction, partial_rdfs
from lotf.build.files import StructureFile
from lotf.build.units import polyhedron
from lotf.config import Campaign
from lotf.context import Context
from lotf.crosscheck import unknown_species
from lotf.errors import StageFailed
from lotf.log import logger
from lotf.model import Strict
from lotf.protocols.runner import glass_frames
from lotf.quantities import (
    Species,
)
from lotf.report import add_result, pyplot, save_figure
from lotf.stages.registry import Problem, Section, register_stage
from lotf.units import density_g_cm3


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

def _check(config: Campaign) -> list[Problem]:
    """Pairs, units and valences the analysis names must be of the system's species."""
    structure, found = config.structure, []
    for key in ("coordination", "bond_cutoffs"):
        for pair in getattr(structure, key):
            found += unknown_species(config, ("structure", key), pair.split("-"), f"pair {pair}")
    for index, unit in enumerate(structure.units):
        found += unknown_species(config, ("structure", "units", index), polyhedron(unit)[:2],
                                 f"unit {unit}")
    if structure.valences is not None:
        found += unknown_species(config, ("structure", "valences"), structure.valences,
                                 "valences")
        unset = sorted(set(config.system.species) - set(structure.valences))
        if unset:
            found.append((("structure", "valences"), f"give a valence for every species (missing "
                                                      f"{', '.join(unset)}) or none at all"))
    return found


@register_stage("structure", section=Section("structure", StructureAnalysis,
                                              StructureAnalysis()),
                needs=("melt_quench",), trajectories=True, reports=True, check=_check)
def structure(ctx: Context) -> dict:
    spec = ctx.config.structure
    replicas = glass_frames(ctx)
    frames = [atoms for replica in replicas for atoms in replica]
    rdf = partial_rdfs(frames, spec.rdf_max, spec.bins)
    pairs = [tuple(p.split("-")) for p in spec.coordination] or sorted(rdf.g)
    result: dict = {"frames": len(frames), "replicas": len(replicas), "rdf": rdf.as_dict(),
                    "coordination": _coordination(rdf, pairs, spec.bond_cutoffs)}
    cutoff = {pair: row["cutoff_angstrom"] for pair, row in result["coordination"].items()}
    result["units"] = _units(frames, spec.units, spec.bond_cutoffs, cutoff)
    densities = np.array([np.mean([density_g_cm3(a) for a in replica]) for replica in replicas])
    result["density_g_cm3"] = {"mean": float(densities.mean()), "per_replica": densities.tolist(),
                               "spread": float(densities.std(ddof=1)) if len(replicas) > 1
                               else 0.0}
    result["gii"] = _gii(ctx, replicas, spec)
    crystal = spec.crystal.read()[0] if spec.crystal else None
    _rdf_figure(ctx, rdf, pairs, crystal)
    add_result(ctx.run, "structure", result)
    logger.info("structure: %d frames of %d replica(s); density %.3f g/cm³; %s", len(frames),
                len(replicas), densities.mean(), ", ".join(
                    f"CN({p}) = {row['cn']:.2f}" for p, row in result["coordination"].items()))
    return {"frames": len(frames)}


def _coordination(rdf: RDF, pairs, cutoffs: dict[str, float]) -> dict:
    """CN of each pair to its given cutoff or the RDF's first minimum; pairs without a minimum
    in range are left out (logged)."""
    rows = {}
    for pair in pairs:
        name = "-".join(pair)
        try:
            cutoff = cutoffs.get(name) or rdf.first_minimum(pair)
        except ValueError as reason:
            logger.info("structure: no coordination for %s: %s", name, reason)
            continue
        rows[name] = {"cutoff_angstrom": cutoff, "cn": rdf.coordination(pair, cutoff)}
    return rows


def _units(frames: list[Atoms], units: list[str], given: dict, found: dict) -> dict:
    """Coordination fractions of each unit's centre, and the fraction forming isolated units."""
    rows = {}
    for unit in units:
        centre, ligand, size = polyhedron(unit)
        pair = f"{centre}-{ligand}"
        cutoff = given.get(pair) or found.get(pair)
        if cutoff is None:
            raise StageFailed(f"structure: no {pair} bond cutoff for {unit} (give "
                              f"structure.bond_cutoffs.{pair})")
        rows[unit] = {"cutoff_angstrom": cutoff,
                      "isolated_fraction": isolated_unit_fraction(frames, centre, ligand, size,
                                                                  cutoff),
                      "coordination_fractions": {
                          str(k): v for k, v in
                          coordination_fractions(frames, centre, ligand, cutoff).items()}}
    return rows


def _gii(ctx: Context, replicas: list[list[Atoms]], spec: StructureAnalysis) -> dict | None:
    """GII of up to `gii_frames` frames per replica with their energies; None for a structure
    without cation-anion bonds (a metal)."""
    try:
        valences = spec.valences or formal_valences(replicas[0][0])
        points = []
        for replica in replicas:
            step = max(1, len(replica) // spec.gii_frames)
            points += [(global_instability_index(a, valences), a.get_potential_energy() / len(a))
                       for a in replica[::step]]
    except ValueError as reason:
        logger.info("structure: no GII (%s)", reason)
        return None
    gii, energy = np.array(points).T
    _gii_figure(ctx, gii, energy)
    return {"valences": valences, "mean": float(gii.mean()), "std": float(gii.std()),
            "per_frame": gii.round(4).tolist(), "energy_ev_per_atom": energy.tolist()}


def _rdf_figure(ctx: Context, rdf: RDF, pairs, crystal: Atoms | None) -> None:
    figure, axes = pyplot().subplots(len(pairs), 1, figsize=(5, 1.6 * len(pairs) + 1),
                                     sharex=True, squeeze=False)
    reference = partial_rdfs([crystal], rdf.edges[-1], len(rdf.r)) if crystal else None
    for axis, pair in zip(axes[:, 0], pairs, strict=True):
        axis.plot(rdf.r, rdf.g[pair], lw=1, label="glass")
        if reference is not None and pair in reference.g:
            axis.plot(reference.r, reference.g[pair], lw=0.8, color="grey", label="crystal")
        axis.set_ylabel(f"g {'-'.join(pair)}")
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("r (Å)")
    data = [{"r_angstrom": float(r), **{f"g_{'-'.join(pair)}": float(rdf.g[pair][k])
                                        for pair in pairs}}
            for k, r in enumerate(rdf.r)]
    if reference is not None:
        data += [{"r_angstrom": float(r), **{f"crystal_g_{'-'.join(pair)}": float(g[k])
                                             for pair, g in reference.g.items() if pair in pairs}}
                 for k, r in enumerate(reference.r)]
    save_figure(ctx.run, "structure-rdf", figure, data)


def _gii_figure(ctx: Context, gii: np.ndarray, energy: np.ndarray) -> None:
    figure, axis = pyplot().subplots(figsize=(4.5, 3.5))
    axis.scatter(gii, energy, s=8)
    axis.set(xlabel="GII (v.u.)", ylabel="E (eV/atom)")
    save_figure(ctx.run, "structure-gii", figure,
                [{"gii_vu": float(g), "energy_ev_per_atom": float(e)}
                 for g, e in zip(gii, energy, strict=True)])
