"""How much of an oracle's forces a potential of a given cutoff cannot represent.

An MTP's force on atom i depends only on the atoms within its cutoff of i. Displacing every
atom farther than that cutoff and asking the oracle again shows the part of its force on i
that comes from beyond: that part is noise to any potential of that cutoff, a floor under its
force error however well it is fitted. DFT on an insulator is near-sighted; a message-passing
universal potential sees several cutoffs away.
"""

from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator


def _shortest(atoms: Atoms) -> float:
    distances = atoms.get_all_distances(mic=True)
    return float(distances[np.triu_indices(len(atoms), 1)].min())


def force_from_beyond(frames: list[Atoms], calculator: Callable[[], Calculator], cutoff: float,
                      displacement: float = 0.1, atoms_per_frame: int = 4,
                      seed: int = 0) -> dict:
    """RMS change (eV/Å, per component) of the force on an atom when every atom farther than
    `cutoff` (Å, minimum image) is moved by a Gaussian `displacement` (Å), over
    `atoms_per_frame` random atoms of each frame; beside it the RMS of those forces."""
    rng = np.random.default_rng(seed)
    changes, forces = [], []
    for frame in frames:
        reference = frame.copy()
        reference.calc = calculator()
        before = reference.get_forces()
        closest = 0.75 * _shortest(reference)
        for i in rng.choice(len(frame), size=min(atoms_per_frame, len(frame)), replace=False):
            far = reference.get_distances(int(i), np.arange(len(frame)), mic=True) > cutoff
            if not far.any():
                raise ValueError(f"no atom is farther than {cutoff} Å from atom {i}: the cell "
                                 "is too small for this cutoff")
            moved = reference.copy()
            moved.positions[far] += rng.normal(0.0, displacement, (int(far.sum()), 3))
            if _shortest(moved) < closest:  # two displaced atoms met: not a fair probe
                continue
            moved.calc = calculator()
            changes.append(moved.get_forces()[i] - before[i])
            forces.append(before[i])
    if not changes:
        raise ValueError("every displacement brought two atoms together; use a smaller one")
    changes, forces = np.array(changes), np.array(forces)
    return {"cutoff": cutoff, "displacement": displacement, "atoms": len(changes),
            "force_change_rms": float(np.sqrt(np.mean(changes**2))),
            "force_rms": float(np.sqrt(np.mean(forces**2)))}
