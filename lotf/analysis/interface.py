"""Ion transport across an interface: displacements along the normal and crossing events.

Following Wang, Aykol & Mueller (Chem. Mater. 2023, Figures 9 and 10): the net displacement of
each mobile ion along the interface normal over a run (a histogram shows whether crossings were
sampled), and interface-crossing events, i.e. an ion coordinated by both anion species (one
from each side, e.g. S and O) in a frame but not `lag` frames before, with its lateral position.
"""

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list


@dataclass(frozen=True)
class Crossing:
    """An ion newly bonded to both sides: frame index, atom index, lateral position (Å)."""

    frame: int
    atom: int
    lateral: tuple[float, float]


def normal_displacements(unwrapped: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Each ion's net displacement (Å) along `normal` between the first and last frame, from
    (frames, ions, 3) unwrapped positions (lotf.analysis.msd.displacements)."""
    unit = np.asarray(normal, dtype=float) / np.linalg.norm(normal)
    return (unwrapped[-1] - unwrapped[0]) @ unit


def bonded_to_both(atoms: Atoms, species: str, cutoffs: dict[str, float]) -> np.ndarray:
    """Mask of the `species` atoms with at least one neighbour of every anion in `cutoffs`
    (anion symbol -> bond cutoff in Å)."""
    symbols = np.array(atoms.get_chemical_symbols())
    first, second, distance = neighbor_list("ijd", atoms, max(cutoffs.values()))
    both = symbols == species
    for anion, cutoff in cutoffs.items():
        bonded = (symbols[first] == species) & (symbols[second] == anion) & (distance < cutoff)
        both &= np.bincount(first[bonded], minlength=len(atoms)) > 0
    return both


def crossings(frames: list[Atoms], species: str, cutoffs: dict[str, float],
              lag: int) -> list[Crossing]:
    """Crossing events: `species` atoms bonded to every anion of `cutoffs` in frame t and not
    in frame t - lag, with their position projected on the a-b plane (Cartesian x, y)."""
    if lag < 1:
        raise ValueError("the lag must be at least one frame")
    masks = [bonded_to_both(atoms, species, cutoffs) for atoms in frames]
    events = []
    for t in range(lag, len(frames)):
        for atom in np.flatnonzero(masks[t] & ~masks[t - lag]):
            x, y, _ = frames[t].positions[atom]
            events.append(Crossing(t, int(atom), (float(x), float(y))))
    return events
