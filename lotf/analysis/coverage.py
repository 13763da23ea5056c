"""Whether a result lies inside what the potential was trained on: the labelled frames of the
same composition, by energy per atom and by density. Outside them the potential extrapolates,
and nothing the oracle said checks the number."""

from dataclasses import dataclass

from ase import Atoms

from lotf.units import density_g_cm3


@dataclass(frozen=True)
class Labelled:
    """The range of the labelled frames of one composition."""

    frames: int
    energy_per_atom: tuple[float, float]  # eV
    density: tuple[float, float] | None  # g/cm³, of the periodic frames

    @classmethod
    def of(cls, labelled: list[Atoms], like: Atoms) -> "Labelled | None":
        """The labelled frames with `like`'s composition; None if there is none."""
        formula = like.get_chemical_formula()
        same = [atoms for atoms in labelled if atoms.get_chemical_formula() == formula]
        if not same:
            return None
        energies = [atoms.get_potential_energy() / len(atoms) for atoms in same]
        densities = [density_g_cm3(atoms) for atoms in same if atoms.pbc.all()]
        return cls(len(same), (min(energies), max(energies)),
                   (min(densities), max(densities)) if densities else None)


def flags(labelled: Labelled | None, energy_per_atom: float, density: float | None,
          what: str) -> list[str]:
    """Plain reasons why `what`'s energy per atom (eV) and density (g/cm³) are not covered by
    the labels (empty: both inside the labelled range)."""
    if labelled is None:
        return [f"no labelled frame has {what}'s composition: nothing checks its numbers"]
    found = []
    low, high = labelled.energy_per_atom
    if not low <= energy_per_atom <= high:
        side, gap = ("below", low - energy_per_atom) if energy_per_atom < low else \
            ("above", energy_per_atom - high)
        found.append(f"{what}'s energy per atom lies {1e3 * gap:.0f} meV/atom {side} every one "
                     f"of the {labelled.frames} labelled frames of its composition: the "
                     "potential extrapolates there, unchecked by the oracle")
    if density is not None and labelled.density is not None:
        low, high = labelled.density
        if not low <= density <= high:
            found.append(f"{what}'s density {density:.3f} g/cm³ lies outside the labelled "
                         f"frames' {low:.3f}-{high:.3f} g/cm³: the potential extrapolates there")
    return found

