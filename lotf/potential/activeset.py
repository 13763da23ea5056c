"""The active set: the D-optimal (maximum-volume) rows of the training basis, and grades against it.

Rows are derivatives of the energy with respect to the potential's parameters (the potential
linearised), one per configuration (configuration mode, averaged over its atoms) or per atomic
neighbourhood (neighbourhood mode). The extrapolation grade of a row b is max_j |(b A⁻¹)_j| for
the active-set matrix A: at most 1 inside the span the training data covers with maximal
volume, above 1 outside it (Podryabinkin & Shapeev 2017).

The build is MLIP's, so the grade is MLIP's grade and the paper's thresholds mean what they say:
A starts as 1e-6·I, and the row of largest |b A⁻¹| entry is swapped in (the row it replaces goes
back among the candidates) until no entry exceeds 1.001. A direction no training row reaches
keeps its placeholder row, so a structure that moves along it is graded about 10⁶ × its step.
Each swap is a rank-one update of A⁻¹ and of every candidate's coefficients (O(rows × m)).
Reproduced against MLIP-3's own active sets in tests/test_mlip_grades.py.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

Mode = Literal["configuration", "neighbourhood"]
PLACEHOLDER = 1e-6  # MLIP's starting active set: PLACEHOLDER · identity
THRESHOLD = 1.001  # MLIP's: a swap must grow |det A| by more than this factor
TRAINING = -1  # the owner of rows that are already in the training set (or placeholders)


class _Swaps:
    """MaxVol by rank-one swaps: the active matrix A, A⁻¹, and the candidates' coefficients B A⁻¹.

    `owners` labels each candidate row (and TRAINING for A's rows); a swap exchanges a candidate
    with the active row it replaces, labels and all, as MLIP does.
    """

    def __init__(self, matrix: np.ndarray, inverse: np.ndarray, candidates: np.ndarray,
                 owners: np.ndarray):
        self.matrix, self.inverse = np.array(matrix), np.array(inverse)
        self.candidates = np.array(candidates, dtype=float)
        self.coefficients = self.candidates @ self.inverse
        self.owners = np.array(owners)
        self.active_owners = np.full(len(self.matrix), TRAINING)

    def best(self, allowed: np.ndarray | None = None) -> tuple[int, int, float]:
        """The candidate and active position of the largest |coefficient| (first one on ties)."""
        magnitude = np.abs(self.coefficients)
        if allowed is not None:
            magnitude = np.where(allowed[:, None], magnitude, 0.0)
        i, j = divmod(int(np.argmax(magnitude)), magnitude.shape[1])
        return i, j, float(magnitude[i, j])

    def swap(self, i: int, j: int) -> None:
        """Candidate i becomes active row j; the old row j becomes candidate i."""
        pivot = self.coefficients[i, j]
        change = self.coefficients[i].copy()
        change[j] -= 1.0  # (b - a_j) A⁻¹
        self.inverse -= np.outer(self.inverse[:, j] / pivot, change)
        column = self.coefficients[:, j] / pivot
        column[i] += 1.0 / pivot
        self.coefficients -= np.outer(column, change)
        self.matrix[j], self.candidates[i] = self.candidates[i].copy(), self.matrix[j].copy()
        self.active_owners[j], self.owners[i] = self.owners[i], self.active_owners[j]


@dataclass(frozen=True)
class ActiveSet:
    """The active-set matrix A (r x r), the map of basis rows into its coordinates, and the mode.

    `projection` (m x r) maps a basis row into A's coordinates: for sets built here it permutes
    the backend's columns into the order MLIP's MaxVol visits them (which decides ties and which
    placeholder a row replaces); sets saved by earlier lotf versions carry their SVD projection.
    """

    mode: Mode
    matrix: np.ndarray
    projection: np.ndarray
    inverse: np.ndarray = field(init=False, repr=False, compare=False)
    grade_matrix: np.ndarray = field(init=False, repr=False, compare=False)  # projection @ A⁻¹

    def __post_init__(self) -> None:
        try:
            inverse = np.linalg.inv(self.matrix)
        except np.linalg.LinAlgError:
            raise ValueError("the active-set matrix is singular") from None
        object.__setattr__(self, "inverse", inverse)
        object.__setattr__(self, "grade_matrix", self.projection @ inverse)

    @classmethod
    def from_rows(cls, rows: np.ndarray, mode: Mode,
                  order: np.ndarray | None = None) -> "ActiveSet":
        """MLIP's maximum-volume active set of the training rows (at least one per parameter).

        `order` lists the basis columns in the reference order (MLIP's coefficient order).
        """
        count = rows.shape[1]
        if len(rows) < count:
            raise ValueError(f"an active set needs at least {count} rows (one per "
                             f"parameter), got {len(rows)}")
        projection = np.eye(count)[:, order] if order is not None else np.eye(count)
        swaps = _Swaps(PLACEHOLDER * np.eye(count), np.eye(count) / PLACEHOLDER,
                       rows @ projection, np.full(len(rows), TRAINING))
        while True:
            i, j, coefficient = swaps.best()
            if coefficient <= THRESHOLD:
                return cls(mode, swaps.matrix, projection)
            swaps.swap(i, j)

    @property
    def rows(self) -> np.ndarray:
        """The active rows in the basis's own coordinates."""
        return self.matrix @ self.projection.T  # the projection's columns are orthonormal

    def grades(self, rows: np.ndarray) -> np.ndarray:
        """Extrapolation grade of each row: max |b A⁻¹| (O(m r) a row)."""
        return np.abs(np.atleast_2d(rows) @ self.grade_matrix).max(axis=1)

    def log_volume(self) -> float:
        """log |det A|: what D-optimal selection maximises."""
        return float(np.linalg.slogdet(self.matrix)[1])

    def select(self, rows: np.ndarray, owners: np.ndarray, max_new: int,
               threshold: float = THRESHOLD) -> tuple[list[int], "ActiveSet"]:
        """MLIP's selection of at most `max_new` owners (configurations) among candidate rows.

        Swaps into A the candidate row of largest coefficient while it exceeds `threshold`
        (each swap grows |det A| by that factor); once `max_new` owners have entered, only their
        rows (and rows swapped out before) compete. Returns the owners whose rows are in the
        final A, in the order they entered, and the grown active set.
        """
        swaps = _Swaps(self.matrix, self.inverse, rows @ self.projection, owners)
        entered: list[int] = []
        while True:
            allowed = None
            if len(entered) >= max_new:
                allowed = np.isin(swaps.owners, [*entered, TRAINING])
            i, j, coefficient = swaps.best(allowed)
            if coefficient <= threshold:
                break
            if swaps.owners[i] != TRAINING and int(swaps.owners[i]) not in entered:
                entered.append(int(swaps.owners[i]))
            swaps.swap(i, j)
        kept = [owner for owner in entered if owner in swaps.active_owners]
        return kept, ActiveSet(self.mode, swaps.matrix, self.projection)

    def save(self, path: Path) -> None:
        """Write as .npz (to a temporary name first is the caller's business)."""
        with open(path, "wb") as handle:
            np.savez(handle, mode=self.mode, matrix=self.matrix, projection=self.projection)

    def save_for_lammps(self, path: Path) -> None:
        """The grade's matrix (projection @ inverse) as `pair_style mtp grade FILE` reads it."""
        with open(path, "w") as handle:
            handle.write(f"lotf-grade {self.mode} {self.grade_matrix.shape[0]} "
                         f"{self.grade_matrix.shape[1]}\n")
            np.savetxt(handle, self.grade_matrix, fmt="%.17g")

    @classmethod
    def load(cls, path: Path) -> "ActiveSet":
        with np.load(path) as data:
            return cls(str(data["mode"]), data["matrix"], data["projection"])
