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


def interface_transport(replicas: list[list[Atoms]], unwrapped: list[np.ndarray], species: str,
                        normal, anions: dict[str, float], lag: int, bins: int = 40) -> dict:
    """Displacements along `normal` and crossing events of `species` over replicas of one
    temperature, as a results.json entry (`unwrapped`: each replica's (frames, ions, 3)
    positions from lotf.analysis.msd.displacements): the displacement histogram, the fraction of ions that
    moved at least half the cell's period (its height over the a-b plane, the interfaces being
    normal to c) and so must have crossed an interface, and the events with their lateral
    positions."""
    moved, events, period = [], [], np.inf
    for frames, positions in zip(replicas, unwrapped, strict=True):
        moved.append(normal_displacements(positions, normal))
        events += crossings(frames, species, anions, lag)
        cell = frames[0].cell
        period = min(period, float(cell.volume / np.linalg.norm(np.cross(cell[0], cell[1]))))
    values = np.concatenate(moved)
    reach = max(float(np.abs(values).max()), 1e-9)
    counts, edges = np.histogram(values, bins=bins, range=(-reach, reach))
    frames_seen = sum(len(frames) - lag for frames in replicas)
    return {"normal": [float(x) for x in normal], "period_angstrom": period,
            "displacement_edges_angstrom": edges.round(4).tolist(), "counts": counts.tolist(),
            "fraction_beyond_half_period": float(np.mean(np.abs(values) >= period / 2)),
            "crossings": len(events), "crossings_per_frame": len(events) / max(frames_seen, 1),
            "crossing_positions_angstrom": [list(event.lateral) for event in events]}
