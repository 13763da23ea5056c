"""Mean squared displacements from trajectories: unwrapped, drift-corrected, origin-averaged.

Positions are unwrapped by minimum-image steps between frames (or by image flags when a
LAMMPS dump has them), the mean displacement of the host framework is removed, and the MSD is
averaged over all time origins with the FFT method, O(F log F) in the number of frames F.
Atoms are processed in chunks so memory stays bounded for long trajectories.
"""

from dataclasses import dataclass

import numpy as np

CHUNK_ATOMS = 64  # atoms per FFT batch: bounds memory at ~ 2F x 64 x 3 complex numbers


@dataclass(frozen=True)
class MSD:
    """Origin-averaged MSD (Å²) at each lag, per projection, averaged over `atoms` atoms."""

    lag_ps: np.ndarray  # (lags,)
    values: dict[str, np.ndarray]  # projection name -> (lags,)
    atoms: int
    duration_ps: float

    def total(self) -> np.ndarray:
        """The 3D MSD: the sum over the x, y and z projections."""
        return self.values["x"] + self.values["y"] + self.values["z"]


def unwrap(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Continuous trajectories from wrapped positions (frames, atoms, 3) and cells ((frames,) 3, 3).

    Each step is taken as the minimum-image displacement in fractional coordinates of the
    frame's cell, so frames must be close enough that no atom moves half a cell between them.
    """
    cells = np.broadcast_to(cells, (len(positions), 3, 3))
    inverse = np.linalg.inv(cells)
    fractional = np.einsum("fai,fij->faj", positions, inverse)
    steps = np.diff(fractional, axis=0)
    steps -= np.round(steps)
    cartesian_steps = np.einsum("faj,fji->fai", steps, cells[1:])
    unwrapped = np.empty_like(positions, dtype=float)
    unwrapped[0] = positions[0]
    np.cumsum(cartesian_steps, axis=0, out=unwrapped[1:])
    unwrapped[1:] += positions[0]
    return unwrapped


def from_images(positions: np.ndarray, images: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Unwrapped positions from wrapped ones and integer image flags (LAMMPS ix iy iz)."""
    cells = np.broadcast_to(cells, (len(positions), 3, 3))
    return positions + np.einsum("faj,fji->fai", images, cells)


def remove_drift(unwrapped: np.ndarray, framework: np.ndarray) -> np.ndarray:
    """Displacements relative to the mean displacement of the `framework` atoms (a mask)."""
    if not framework.any():
        raise ValueError("no framework atoms to take the drift from")
    drift = unwrapped[:, framework].mean(axis=1) - unwrapped[0, framework].mean(axis=0)
    return unwrapped - drift[:, None, :]


def msd(unwrapped: np.ndarray, atoms: np.ndarray, timestep_ps: float,
        directions: dict[str, np.ndarray] | None = None) -> MSD:
    """Origin-averaged MSD of the `atoms` (indices or mask) along x, y, z and any `directions`.

    `timestep_ps` is the time between frames. A direction is projected on its unit vector,
    e.g. {"normal": [0, 0, 1]} for an interface normal to c.
    """
    selected = unwrapped[:, atoms]
    frames, count = selected.shape[:2]
    axes = {"x": np.array([1.0, 0, 0]), "y": np.array([0, 1.0, 0]), "z": np.array([0, 0, 1.0])}
    for name, vector in (directions or {}).items():
        axes[name] = np.asarray(vector, dtype=float) / np.linalg.norm(vector)
    basis = np.stack(list(axes.values()), axis=1)  # (3, projections)
    totals = np.zeros((frames, basis.shape[1]))
    for start in range(0, count, CHUNK_ATOMS):
        projected = np.einsum("fai,ip->fap", selected[:, start:start + CHUNK_ATOMS], basis)
        totals += _origin_averaged(projected).sum(axis=1)
    values = totals / count
    return MSD(np.arange(frames) * timestep_ps, dict(zip(axes, values.T, strict=True)), count,
               (frames - 1) * timestep_ps)


def _origin_averaged(series: np.ndarray) -> np.ndarray:
    """<(x(t+m) - x(t))²> over all origins t, for each column of (frames, ...) by FFT."""
    frames = len(series)
    squares = series**2
    # sum over origins of x(t)² + x(t+m)², by running sums from both ends
    cumulative = np.concatenate([np.zeros((1, *series.shape[1:])), np.cumsum(squares, axis=0)])
    total = cumulative[-1]
    lags = np.arange(frames)
    head = cumulative[frames - lags]  # sum of x(t)² for t < F - m
    tail = total - cumulative[lags]  # sum of x(t)² for t >= m
    spectrum = np.fft.rfft(series, n=2 * frames, axis=0)
    correlation = np.fft.irfft(spectrum * spectrum.conj(), axis=0)[:frames]  # sum x(t) x(t+m)
    counts = (frames - lags).reshape(-1, *([1] * (series.ndim - 1)))
    return (head + tail - 2 * correlation) / counts
