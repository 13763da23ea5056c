"""Whole-campaign checks: what one section says about another, found before anything runs.

The typed model (lotf.schema) checks each key alone; here the campaign is checked as a whole:
each listed stage has its section, the stages it needs before it, MD phases and trajectory frames
if it analyses them; then every registered stage's own `check` (the species its analyses name are
the system's, the formula unit is one the start structures are made of, the bootstrap gives the
first potential's active set a row per parameter). Each problem is the key path it concerns and
one sentence, so the config loader can name the YAML line. The helpers below are what stages'
checks share.
"""

from dataclasses import replace

import numpy as np

from lotf.build.amorphous import AmorphousSpec
from lotf.build.files import FileStructures
from lotf.build.units import unit_atoms
from lotf.config import Campaign
from lotf.stages.registry import Problem, registered


def problems(config: Campaign) -> list[Problem]:
    """Every cross-reference of the campaign that does not hold, in file order."""
    found = _stages(config)
    for info in registered().values():
        if info.check is not None:
            found += info.check(config)
    return found


def parameter_count(config: Campaign) -> int:
    """How many parameters the campaign's MTP has (its active set needs a row for each)."""
    from lotf.potential.native_backend import level_definition

    settings = config.potential
    return replace(level_definition(settings.level), species_count=len(config.system.species),
                   radial_basis_size=settings.radial_basis_size).parameter_count


def unknown_species(config: Campaign, keys: tuple, symbols, what: str) -> list[Problem]:
    """A problem at `keys` if `symbols` name species the system does not have."""
    missing = sorted(set(symbols) - set(config.system.species))
    if not missing:
        return []
    return [(keys, f"{what} names {', '.join(missing)}, not in system.species "
                   f"{config.system.species}")]


def atom_counts(config: Campaign) -> list[int] | None:
    """Atoms in each start structure, where the spec says without building (None for an
    interface, whose atoms are known once it is stacked)."""
    counts = []
    for spec in config.system.structures:
        repeat = int(np.prod(spec.supercell))
        if isinstance(spec, AmorphousSpec):
            counts += [sum(composition(spec).values()) * repeat] * spec.replicas
        elif isinstance(spec, FileStructures):
            counts += [len(atoms) * repeat for atoms in spec.read()]
        else:
            return None
    return counts


def _stages(config: Campaign) -> list[Problem]:
    found: list[Problem] = []
    names = config.stages
    for index, name in enumerate(names):
        info, where = registered()[name], ("stages", index)
        if name in names[:index]:
            found.append((where, f"stage '{name}' is listed twice"))
        section = info.section
        if section is not None and getattr(config, section.key) is None:
            found.append((where, f"the {name} stage needs a `{section.key}:` section"))
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


def composition(spec: AmorphousSpec) -> dict[str, int]:
    """Atoms per species of an amorphous packing of its units."""
    total: dict[str, int] = {}
    for name, count in spec.units.items():
        for symbol in unit_atoms(name).get_chemical_symbols():
            total[symbol] = total.get(symbol, 0) + count
    return total


def made_of(composition: dict[str, int], unit: dict[str, int]) -> bool:
    """Whether the composition is n whole formula units (n >= 1)."""
    if set(composition) != set(unit):
        return False
    first = next(iter(unit))
    units, rest = divmod(composition[first], unit[first])
    return rest == 0 and units >= 1 and all(composition[s] == units * unit[s] for s in unit)
