"""Rigid molecular units (PS4 tetrahedra, BO3 triangles, ...) that packing keeps intact."""

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

_TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0)
_TRIANGLE = np.array(
    [[1.0, 0.0, 0.0], [-0.5, np.sqrt(3) / 2, 0.0], [-0.5, -np.sqrt(3) / 2, 0.0]]
)

# name: (centre, ligand, centre-ligand bond length in Å, ligand directions)
_POLYHEDRA = {
    "PS4": ("P", "S", 2.05, _TETRAHEDRON),
    "PO4": ("P", "O", 1.54, _TETRAHEDRON),
    "BO4": ("B", "O", 1.47, _TETRAHEDRON),
    "BO3": ("B", "O", 1.37, _TRIANGLE),
    "SiO4": ("Si", "O", 1.62, _TETRAHEDRON),
}

MOLECULAR_UNITS = tuple(_POLYHEDRA)


def polyhedron(name: str) -> tuple[str, str, int]:
    """(centre, ligand, ligand count) of a molecular unit such as PS4; ValueError if unknown."""
    if name not in _POLYHEDRA:
        raise ValueError(f"unknown unit '{name}' (units: {', '.join(MOLECULAR_UNITS)})")
    centre, ligand, _, directions = _POLYHEDRA[name]
    return centre, ligand, len(directions)


def is_unit(name: str) -> bool:
    """True for a molecular unit name or a chemical element (a single ion)."""
    return name in _POLYHEDRA or (name in chemical_symbols and name != "X")


def unit_atoms(name: str) -> Atoms:
    """The unit as Atoms centred at the origin: a polyhedron or a single atom."""
    if name in _POLYHEDRA:
        centre, ligand, bond, directions = _POLYHEDRA[name]
        positions = np.vstack([np.zeros(3), bond * directions])
        return Atoms(centre + ligand + str(len(directions)), positions=positions)
    if not is_unit(name):
        raise ValueError(f"unknown unit '{name}' (units: {', '.join(MOLECULAR_UNITS)} or an element)")
    return Atoms(name, positions=[[0.0, 0.0, 0.0]])


def bond_geometry(name: str) -> tuple[float, float]:
    """(centre–ligand, ligand–ligand) distances in Å of a molecular unit such as BO3."""
    _, _, bond, directions = _POLYHEDRA[name]
    return bond, bond * float(np.linalg.norm(directions[0] - directions[1]))
