"""Random packing of intact molecular units and single ions into a periodic box at a set density."""

from typing import Annotated, Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers, covalent_radii
from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator
from scipy.spatial.transform import Rotation

from lotf.build.files import StructureFile
from lotf.build.spec import StructureSpec
from lotf.build.units import MOLECULAR_UNITS, is_unit, unit_atoms
from lotf.errors import UserError
from lotf.units import AMU_PER_CM3_TO_G, density_g_cm3, mass_density

DEFAULT_MIN_DISTANCE_FACTOR = 0.85  # times the sum of covalent radii, when no pair is given
ATTEMPTS_PER_UNIT = 5000
MAX_ATOMS = 1_000_000  # per box: beyond this no oracle labels it, and packing would run for ever
RESTARTS = 20


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
    def _box_given(self) -> "AmorphousSpec":
        atoms = sum(count * len(unit_atoms(name)) for name, count in self.units.items())
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
    """Place every unit at a random position and orientation; fail with a UserError if none fits.

    Each atom's tag is the number of its unit (1, 2, ...), so units can be found again.
    """
    templates = [unit_atoms(name) for name, n in spec.units.items() for _ in range(n)]
    templates.sort(key=len, reverse=True)  # big units first, while there is room
    mass = sum(atomic_masses[t.numbers].sum() for t in templates)
    lengths = box_lengths(spec, mass)
    limits = pair_minimum_table(spec.min_distance)  # between atoms of different units
    for _ in range(RESTARTS):
        atoms = _try_pack(templates, lengths, limits, rng)
        if atoms is not None:
            return atoms
    density = mass_density(mass, np.prod(lengths))
    raise UserError(
        f"could not pack {dict(spec.units)} into a {' x '.join(f'{x:.2f}' for x in lengths)} Å box "
        f"({density:.3f} g/cm³) keeping the minimum distances; lower the density or min_distance"
    )


def _try_pack(templates, lengths, limits, rng) -> Atoms | None:
    positions = np.empty((0, 3))
    numbers = np.empty(0, dtype=int)
    tags = np.empty(0, dtype=int)
    for index, template in enumerate(templates, start=1):
        placed = _place(template, positions, numbers, lengths, limits, rng)
        if placed is None:
            return None
        positions = np.vstack([positions, placed])
        numbers = np.concatenate([numbers, template.numbers])
        tags = np.concatenate([tags, np.full(len(template), index)])
    atoms = Atoms(numbers=numbers, positions=positions, cell=lengths, pbc=True, tags=tags)
    atoms.wrap()
    return atoms


def _place(template, positions, numbers, lengths, limits, rng, batch: int = 200):
    """A placement of `template` that keeps its minimum distances, or None after many tries."""
    local = template.positions
    for _ in range(ATTEMPTS_PER_UNIT // batch):
        rotations = Rotation.random(batch, random_state=rng).as_matrix()
        centres = rng.random((batch, 3)) * lengths
        trials = centres[:, None, :] + np.einsum("bij,aj->bai", rotations, local)
        if len(positions) == 0:
            return trials[0]
        delta = trials[:, :, None, :] - positions[None, None, :, :]
        delta -= lengths * np.round(delta / lengths)
        distance = np.linalg.norm(delta, axis=-1)
        allowed = limits[template.numbers][:, numbers]
        ok = np.all(distance >= allowed[None], axis=(1, 2))
        if ok.any():
            return trials[np.argmax(ok)]
    return None
