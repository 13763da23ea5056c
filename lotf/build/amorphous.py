"""Random packing of intact molecular units and single ions into a periodic box at a set density:
random insertion, overlap removal where insertion stalls, and corner-sharing networks of
polyhedra (a borate's BO3 and BO4 sharing O) built first when a ligand is `shared`."""

from typing import Annotated, Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers, chemical_symbols, covalent_radii
from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from lotf.build.files import StructureFile
from lotf.build.network import build_network, ligand_slots
from lotf.build.placement import Bodies, crowded_species, insert, remove_overlaps
from lotf.build.spec import StructureSpec
from lotf.build.units import MOLECULAR_UNITS, is_unit, polyhedron, unit_atoms
from lotf.errors import UserError
from lotf.log import logger
from lotf.units import AMU_PER_CM3_TO_G, density_g_cm3, mass_density

DEFAULT_MIN_DISTANCE_FACTOR = 0.85  # times the sum of covalent radii, when no pair is given
MAX_ATOMS = 1_000_000  # per box: beyond this no oracle labels it, and packing would run for ever
RESTARTS = 20  # networks built from new random centres
PACKINGS = 3  # insertions with overlap removal tried; each re-places what jams on its own


class AmorphousSpec(StructureSpec):
    """A box of randomly placed, randomly oriented units, e.g. {PS4: 4, Li: 12} at 1.8 g/cm³."""

    builder: Literal["amorphous"]
    units: dict[str, Annotated[PositiveInt, Field(le=MAX_ATOMS)]] = Field(min_length=1)
    density: PositiveFloat | None = Field(None, ge=0.05, le=30.0, description="g/cm³")
    density_of: StructureFile | None = Field(
        None, description="a crystal (e.g. a CIF) whose density the box takes")
    cell: tuple[PositiveFloat, PositiveFloat, PositiveFloat] | None = Field(
        None, description="orthorhombic box lengths in Å; scaled to `density` when both are given"
    )
    min_distance: dict[str, PositiveFloat] = Field(
        default_factory=dict, description="Å between species of different units: 'Li-S' or 'default'"
    )
    shared: dict[str, Annotated[PositiveInt, Field(le=MAX_ATOMS)]] = Field(
        default_factory=dict, description="a ligand the polyhedra share and how many of its atoms "
        "the box holds, each bonded to one or two units: {O: 72} joins 32 BO3 + 12 BO4 into "
        "Li3B11O18's network")
    replicas: PositiveInt = Field(1, le=1000)

    @field_validator("units")
    @classmethod
    def _known_units(cls, units: dict[str, int]) -> dict[str, int]:
        for name in units:
            if not is_unit(name):
                raise ValueError(
                    f"unknown unit '{name}'; use {', '.join(MOLECULAR_UNITS)} or an element symbol"
                )
        return units

    @field_validator("min_distance")
    @classmethod
    def _pairs(cls, pairs: dict[str, float]) -> dict[str, float]:
        for pair in pairs:
            if pair != "default" and not is_pair(pair):
                raise ValueError(f"'{pair}' is not a species pair such as 'Li-S' (or 'default')")
        return pairs

    @model_validator(mode="after")
    def _network(self) -> "AmorphousSpec":
        if len(self.shared) > 1:
            raise ValueError("`shared` takes one ligand species")
        for ligand, count in self.shared.items():
            units = self.network_units()
            if not units:
                raise ValueError(f"`shared: {ligand}` needs units with {ligand} ligands, "
                                 "e.g. BO3 or BO4")
            slots = ligand_slots(units)
            if not count <= slots <= 2 * count:
                raise ValueError(
                    f"{count} shared {ligand} cannot join units with {slots} {ligand} slots: "
                    f"each {ligand} bonds one or two units, so give {(slots + 1) // 2}-{slots}")
        return self

    @model_validator(mode="after")
    def _box_given(self) -> "AmorphousSpec":
        atoms = len(self.composition())
        if atoms > MAX_ATOMS:
            raise ValueError(f"the units make {atoms} atoms, more than {MAX_ATOMS} per box")
        if self.density is not None and self.density_of is not None:
            raise ValueError("give `density` or `density_of`, not both")
        if self.target_density() is None and self.cell is None:
            raise ValueError("give the box by `density` (g/cm³) or `density_of` (a crystal "
                             "file), `cell` (Å), or both")
        return self

    def target_density(self) -> float | None:
        """The density asked for (g/cm³): given, or the crystal's, or None (the cell decides)."""
        if self.density_of is not None:
            return density_g_cm3(self.density_of.read()[0])
        return self.density

    def symbols(self) -> set[str]:
        """The chemical species this box will contain."""
        return {s for name in self.units for s in unit_atoms(name).get_chemical_symbols()}

    def network_units(self) -> list[str]:
        """The polyhedra whose ligand is shared, one name per unit (empty without `shared`)."""
        return [name for name, count in self.units.items() for _ in range(count)
                if name in MOLECULAR_UNITS and polyhedron(name)[1] in self.shared]

    def free_units(self) -> list[Atoms]:
        """The units packed as rigid bodies (everything outside the network), largest first."""
        network = set(self.network_units())
        free = [unit_atoms(name) for name, n in self.units.items() if name not in network
                for _ in range(n)]
        return sorted(free, key=len, reverse=True)  # big units first, while there is room

    def composition(self) -> np.ndarray:
        """The atomic numbers of the box (network centres, shared ligands, then the rest)."""
        centres = [atomic_numbers[polyhedron(name)[0]] for name in self.network_units()]
        ligands = [atomic_numbers[s] for s, n in self.shared.items() for _ in range(n)]
        rest = [z for unit in self.free_units() for z in unit.numbers]
        return np.array(centres + ligands + rest, dtype=int)

    def make(self, seed: int) -> list[Atoms]:
        """`replicas` boxes; replica r is reproducible from (seed, r)."""
        return [pack(self, np.random.default_rng([seed, r])) for r in range(self.replicas)]


def is_pair(text: str) -> bool:
    parts = text.split("-")
    return len(parts) == 2 and all(p in atomic_numbers for p in parts)


def box_lengths(spec: AmorphousSpec, mass_amu: float) -> np.ndarray:
    """Orthorhombic box lengths: the cell, scaled to the density when one is asked for."""
    shape = np.array(spec.cell if spec.cell is not None else (1.0, 1.0, 1.0))
    density = spec.target_density()
    if density is None:
        return shape
    volume = mass_amu * AMU_PER_CM3_TO_G / density
    return shape * (volume / np.prod(shape)) ** (1.0 / 3.0)


def pair_minimum_table(min_distance: dict[str, float]) -> np.ndarray:
    """Minimum distances (Å) indexed by atomic numbers: the pairs given ('Li-S'), else
    'default' if given, else DEFAULT_MIN_DISTANCE_FACTOR times the sum of covalent radii."""
    default = min_distance.get("default")
    table = np.add.outer(covalent_radii, covalent_radii) * DEFAULT_MIN_DISTANCE_FACTOR
    if default is not None:
        table[:] = default
    for pair, value in min_distance.items():
        if pair != "default":
            a, b = (atomic_numbers[s] for s in pair.split("-"))
            table[a, b] = table[b, a] = value
    return table


def pack(spec: AmorphousSpec, rng: np.random.Generator) -> Atoms:
    """Place every unit at a random position and orientation (after building the network, if a
    ligand is shared); fail with a UserError if the minimum distances cannot be kept.

    Each atom's tag is the number of its unit (1, 2, ...; a shared ligand carries one of its two
    units'), so units can be found again.
    """
    numbers = spec.composition()
    mass = atomic_masses[numbers].sum()
    lengths = box_lengths(spec, mass)
    limits = pair_minimum_table(spec.min_distance)  # between atoms of different units
    _check_room(spec, numbers, lengths, limits)
    network_units, free = spec.network_units(), spec.free_units()
    packings = 0
    for _ in range(RESTARTS):
        network = Atoms(cell=lengths, pbc=True)
        if network_units:
            ligands = next(iter(spec.shared.values()))
            network = build_network(network_units, ligands, lengths, limits, rng)
            if network is None:
                logger.info("packing: a network of %d units did not relax to intact units; "
                            "trying new random centres", len(network_units))
                continue
        atoms = _try_pack(free, network, lengths, limits, rng)
        if atoms is not None:
            return atoms
        packings += 1
        if packings == PACKINGS:
            break
    raise UserError(
        f"could not pack {dict(spec.units)} into a {' x '.join(f'{x:.2f}' for x in lengths)} Å box "
        f"({mass_density(mass, np.prod(lengths)):.3f} g/cm³) keeping the minimum distances; "
        "lower the density or min_distance")


def _check_room(spec: AmorphousSpec, numbers, lengths, limits) -> None:
    """Refuse at once a box one species cannot fit into even as the densest sphere packing."""
    own = limits.copy()  # a unit's own atoms may sit closer than the limit between units
    for unit in spec.free_units():
        distances = unit.get_all_distances()
        for a in np.unique(unit.numbers):
            same = unit.numbers == a
            if same.sum() > 1:
                shortest = distances[np.ix_(same, same)][~np.eye(same.sum(), dtype=bool)].min()
                own[a, a] = min(own[a, a], shortest)
    crowded = crowded_species(numbers, float(np.prod(lengths)), own)
    if crowded is not None:
        symbol = chemical_symbols[crowded]
        raise UserError(
            f"{np.sum(numbers == crowded)} {symbol} atoms {own[crowded, crowded]:.2f} Å apart do "
            f"not fit into a {' x '.join(f'{x:.2f}' for x in lengths)} Å box even close-packed; "
            f"lower the density or the {symbol}-{symbol} min_distance")


def _try_pack(templates: list[Atoms], network: Atoms, lengths, limits, rng) -> Atoms | None:
    """Insert the units one by one around the network; where one finds no room, remove the
    overlaps of all of them together. None if that fails too."""
    positions, numbers = network.positions, network.numbers
    start = int(network.get_tags().max()) + 1 if len(network) else 1
    tags = network.get_tags()
    crowded = False
    for index, template in enumerate(templates, start=start):
        placed, ok = insert(template.positions, template.numbers, positions, numbers, lengths,
                            limits, rng)
        crowded |= not ok
        positions = np.vstack([positions, placed])
        numbers = np.concatenate([numbers, template.numbers])
        tags = np.concatenate([tags, np.full(len(template), index)])
    if crowded:
        positions = _without_overlaps(templates, network, positions, lengths, limits, rng)
        if positions is None:
            return None
    atoms = Atoms(numbers=numbers, positions=positions, cell=lengths, pbc=True, tags=tags)
    atoms.wrap()
    return atoms


def _without_overlaps(templates, network, positions, lengths, limits, rng) -> np.ndarray | None:
    """The inserted units moved and turned as rigid bodies until no pair is too close, the
    network's atoms held still; None if they cannot be."""
    fixed, sizes = len(network), [len(t) for t in templates]
    body = np.concatenate([np.arange(fixed), fixed + np.repeat(np.arange(len(sizes)), sizes)])
    n = fixed + len(sizes)
    centres = np.zeros((n, 3))
    np.add.at(centres, body, positions)  # a unit's atoms are unwrapped about its centre
    centres /= np.bincount(body, minlength=n)[:, None]
    bodies = Bodies(numbers=np.concatenate([network.numbers] + [t.numbers for t in templates]),
                    local=positions - centres[body], body=body, centres=centres,
                    rotations=np.tile(np.eye(3), (n, 1, 1)),
                    movable=np.arange(n) >= fixed)
    if not remove_overlaps(bodies, lengths, limits, rng):
        return None
    return bodies.positions()
