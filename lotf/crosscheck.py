"""Whole-campaign checks: what one section says about another, found before anything runs.

The typed model (lotf.config) checks each key alone; here the campaign is checked as a whole:
each stage has its section, the stages it needs before it, MD phases and trajectory frames if it
analyses them; the species named by analyses are the system's; the formula unit is a formula of
those species that the start structures are made of. Each problem is the key path it concerns
and one sentence, so the config loader can name the YAML line.
"""

from ase.data import chemical_symbols
from ase.formula import Formula

from lotf.build.amorphous import AmorphousSpec
from lotf.build.units import polyhedron, unit_atoms
from lotf.config import Campaign

Problem = tuple[tuple, str]


def problems(config: Campaign) -> list[Problem]:
    """Every cross-reference of the campaign that does not hold, in file order."""
    return _stages(config) + _species(config) + _formula(config)


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
