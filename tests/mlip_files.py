"""MLIP-3's files as the reference tests read them: .cfg frames with extra columns, .almtp matrices."""

import gzip
from pathlib import Path

import numpy as np
from ase import Atoms


def frames_with_grades(path: Path) -> list[Atoms]:
    """The frames of an MLIP .cfg with its `nbh_grades` column as an array of each Atoms."""
    with gzip.open(path, "rt") as handle:
        text = handle.read()
    frames = []
    for block in text.split("BEGIN_CFG")[1:]:
        lines = block.splitlines()
        size = int(lines[2])
        cell = np.loadtxt(lines[4:7])
        header = lines[7].split()[1:]
        data = np.loadtxt(lines[8:8 + size], ndmin=2)
        x = header.index("cartes_x")
        atoms = Atoms(f"Cu{size}", positions=data[:, x:x + 3], cell=cell, pbc=True)
        atoms.arrays["nbh_grades"] = data[:, header.index("nbh_grades")]
        frames.append(atoms)
    return frames


def mlip_active_matrix(path: Path, size: int) -> np.ndarray:
    """A from an .almtp: size x size doubles after the `weight_scaling` line's `#`."""
    with gzip.open(path) as handle:
        raw = handle.read()
    start = raw.index(b"#", raw.index(b"weight_scaling")) + 1
    return np.frombuffer(raw[start:start + 8 * size * size]).reshape(size, size)
