"""The active set: the D-optimal (maximum-volume) rows of the training basis, and grades against it.

Rows are derivatives of the energy with respect to the potential's parameters (the potential
linearised), one per configuration (configuration mode) or per atomic neighbourhood
(neighbourhood mode). The extrapolation grade of a row b is max_j |(b A⁻¹)_j| for the
active-set matrix A: at most 1 inside the span the training data covers with maximal volume,
above 1 outside it (Podryabinkin & Shapeev 2017).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.linalg import qr

Mode = Literal["configuration", "neighbourhood"]
SWAP_TOLERANCE = 1.0 + 1e-6  # swap only rows that grow the volume by more than this factor
MAX_SWAPS = 10_000
RANK_TOLERANCE = 1e-9  # singular values below this fraction of the largest are dependencies


def maxvol(rows: np.ndarray) -> np.ndarray:
    """Indices of the m rows of the (n >= m, m) matrix whose square submatrix has (locally) maximal volume."""
    m = rows.shape[1]
    _, _, pivots = qr(rows.T, pivoting=True, mode="economic")
    chosen = np.array(pivots[:m])
    for _ in range(MAX_SWAPS):
        coefficients = _coefficients(rows, rows[chosen])
        i, j = np.unravel_index(np.argmax(np.abs(coefficients)), coefficients.shape)
        if abs(coefficients[i, j]) <= SWAP_TOLERANCE:
            break
        chosen[j] = i
    return chosen


def _coefficients(rows: np.ndarray, active: np.ndarray) -> np.ndarray:
    """C with rows = C @ active, i.e. C = rows @ active⁻¹."""
    try:
        return np.linalg.solve(active.T, rows.T).T
    except np.linalg.LinAlgError:
        raise ValueError(
            "the training basis is rank-deficient: more distinct structures are needed"
        ) from None


@dataclass(frozen=True)
class ActiveSet:
    """The active-set matrix A (r x r) in the training rows' span, and which mode rows come from.

    Some parameters act alike on every training structure (MTP basis functions that are
    combinations of others; radial coefficients over a narrow range of distances);
    `projection` (m x r) maps rows onto the r independent directions of the training data,
    where A is invertible. Without dependencies r = m and it is a rotation.
    """

    mode: Mode
    matrix: np.ndarray
    projection: np.ndarray
    inverse: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "inverse", np.linalg.inv(self.matrix))
        except np.linalg.LinAlgError:
            raise ValueError("the active-set matrix is singular") from None

    @classmethod
    def from_rows(cls, rows: np.ndarray, mode: Mode) -> "ActiveSet":
        """The maximum-volume active set of the training rows (at least one per parameter)."""
        if len(rows) < rows.shape[1]:
            raise ValueError(f"an active set needs at least {rows.shape[1]} rows (one per "
                             f"parameter), got {len(rows)}")
        _, values, directions = np.linalg.svd(rows, full_matrices=False)
        projection = directions[values > values[0] * RANK_TOLERANCE].T
        reduced = rows @ projection
        return cls(mode, np.array(reduced[maxvol(reduced)]), projection)

    @property
    def rows(self) -> np.ndarray:
        """The active rows in the basis's own coordinates."""
        return self.matrix @ self.projection.T

    def grades(self, rows: np.ndarray) -> np.ndarray:
        """Extrapolation grade of each row: max |b A⁻¹| (A⁻¹ computed once, so O(m²) a row)."""
        return np.abs(np.atleast_2d(rows) @ self.projection @ self.inverse).max(axis=1)

    def log_volume(self) -> float:
        """log |det A|: what D-optimal selection maximises."""
        return float(np.linalg.slogdet(self.matrix)[1])

    def select(self, rows: np.ndarray, owners: np.ndarray, max_new: int,
               threshold: float = SWAP_TOLERANCE) -> tuple[list[int], "ActiveSet"]:
        """Greedy D-optimal choice of at most `max_new` owners (configurations) among candidates.

        Each step swaps into A the candidate row that grows |det A| most (by its grade, a factor
        above `threshold`); the configuration owning it is selected. Returns the owners chosen,
        in order, and the grown active set. This is MLIP's select-add.
        """
        rows = rows @ self.projection
        matrix = np.array(self.matrix)
        chosen: list[int] = []
        available = np.ones(len(rows), dtype=bool)
        while len(chosen) < max_new and available.any():
            coefficients = np.abs(_coefficients(rows[available], matrix))
            i, j = np.unravel_index(np.argmax(coefficients), coefficients.shape)
            if coefficients[i, j] <= threshold:
                break
            index = np.flatnonzero(available)[i]
            matrix[j] = rows[index]
            owner = int(owners[index])
            if owner not in chosen:
                chosen.append(owner)
            available[index] = False
        return chosen, ActiveSet(self.mode, matrix, self.projection)

    def save(self, path: Path) -> None:
        """Write as .npz (to a temporary name first is the caller's business)."""
        with open(path, "wb") as handle:
            np.savez(handle, mode=self.mode, matrix=self.matrix, projection=self.projection)

    def save_for_lammps(self, path: Path) -> None:
        """The grade's matrix (projection @ inverse) as `pair_style mtp grade FILE` reads it."""
        grade = self.projection @ self.inverse
        with open(path, "w") as handle:
            handle.write(f"lotf-grade {self.mode} {grade.shape[0]} {grade.shape[1]}\n")
            np.savetxt(handle, grade, fmt="%.17g")

    @classmethod
    def load(cls, path: Path) -> "ActiveSet":
        with np.load(path) as data:
            return cls(str(data["mode"]), data["matrix"], data["projection"])
