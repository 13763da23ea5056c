"""Whole-campaign checks: what one section says about another, found before anything runs.

The typed model (lotf.config) checks each key alone; here the campaign is checked as a whole:
each stage has its section, the stages it needs before it, MD phases and trajectory frames if it
analyses them; the species named by analyses are the system's; the formula unit is a formula of
those species that the start structures are made of; the bootstrap gives the first potential's
active set a row per parameter. Each problem is the key path it concerns
and one sentence, so the config loader can name the YAML line.
"""

from dataclasses import replace

import numpy as np
from ase.data import chemical_symbols
from ase.formula import Formula

from lotf.build.amorphous import AmorphousSpec
from lotf.build.files import FileStructures
from lotf.build.units import polyhedron, unit_atoms
from lotf.config import Campaign, ImportBootstrap, MDBootstrap, RattleBootstrap

Problem = tuple[tuple, str]


def problems(config: Campaign) -> list[Problem]:
    """Every cross-reference of the campaign that does not hold, in file order."""
    found = _stages(config) + _species(config) + _formula(config)
    counts = _atom_counts(config)
    shortfall = too_few_rows(config, counts) if counts is not None else None
    return found + ([(("bootstrap",), shortfall)] if shortfall else [])


def parameter_count(config: Campaign) -> int:
    """How many parameters the campaign's MTP has (its active set needs a row for each)."""
    from lotf.potential.native_backend import level_definition

    settings = config.potential
    return replace(level_definition(settings.level), species_count=len(config.system.species),
                   radial_basis_size=settings.radial_basis_size).parameter_count


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


def _atom_counts(config: Campaign) -> list[int] | None:
    """Atoms in each start structure, where the spec says without building (None for an
    interface, whose atoms are known once it is stacked)."""
    counts = []
    for spec in config.system.structures:
        repeat = int(np.prod(spec.supercell))
        if isinstance(spec, AmorphousSpec):
            counts += [sum(_composition(spec).values()) * repeat] * spec.replicas
        elif isinstance(spec, FileStructures):
            counts += [len(atoms) * repeat for atoms in spec.read()]
        else:
            return None
    return counts


def _stages(config: Campaign) -> list[Problem]:
    from lotf.stages import STAGES

    found: list[Problem] = []
    names = config.stages
    for index, name in enumerate(names):
        info, where = STAGES[name], ("stages", index)
        if name in names[:index]:
            found.append((where, f"stage '{name}' is listed twice"))
        if info.section is not None and getattr(config, info.section) is None:
            found.append((where, f"the {name} stage needs a `{info.section}:` section"))
        for group in info.needs:
            options = group.split("|")
            if not set(options) & set(names[:index]):
                found.append((where, f"the {name} stage needs {' or '.join(options)} before it "
                                     "in stages"))
        if info.phases and not config.md.phases:
            found.append((("md", "phases"), f"the {name} stage needs at least one MD phase"))
        if info.trajectories and not config.md.dump_every:
            found.append((("md", "dump_every"), f"the {name} stage analyses MD frames: "
                          "dump_every must be above 0"))
    return found


def _species(config: Campaign) -> list[Problem]:
    """Species named by the analyses must be in the system."""
    species = set(config.system.species)
    found: list[Problem] = []

    def need(keys: tuple, symbols, what: str) -> None:
        missing = sorted(set(symbols) - species)
        if missing:
            found.append((keys, f"{what} names {', '.join(missing)}, not in system.species "
                                f"{config.system.species}"))

    if config.diffusion is not None:
        need(("diffusion", "species"), [config.diffusion.species], "the diffusing species")
        if config.diffusion.interface is not None:
            need(("diffusion", "interface", "anions"), config.diffusion.interface.anions,
                 "interface transport")
    structure = config.structure
    for key in ("coordination", "bond_cutoffs"):
        for pair in getattr(structure, key):
            need(("structure", key), pair.split("-"), f"pair {pair}")
    for index, unit in enumerate(structure.units):
        need(("structure", "units", index), polyhedron(unit)[:2], f"unit {unit}")
    if structure.valences is not None:
        need(("structure", "valences"), structure.valences, "valences")
        unset = sorted(species - set(structure.valences))
        if unset:
            found.append((("structure", "valences"), f"give a valence for every species (missing "
                                                      f"{', '.join(unset)}) or none at all"))
    return found


def _formula(config: Campaign) -> list[Problem]:
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
        if isinstance(spec, AmorphousSpec) and not _made_of(_composition(spec), counts):
            return [(where, f"system.structures[{index}] ({_composition(spec)}) is not made of "
                            f"whole {text} units")]
    return []


def _composition(spec: AmorphousSpec) -> dict[str, int]:
    total: dict[str, int] = {}
    for name, count in spec.units.items():
        for symbol in unit_atoms(name).get_chemical_symbols():
            total[symbol] = total.get(symbol, 0) + count
    return total


def _made_of(composition: dict[str, int], unit: dict[str, int]) -> bool:
    """Whether the composition is n whole formula units (n >= 1)."""
    if set(composition) != set(unit):
        return False
    first = next(iter(unit))
    units, rest = divmod(composition[first], unit[first])
    return rest == 0 and units >= 1 and all(composition[s] == units * unit[s] for s in unit)
