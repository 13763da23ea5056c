"""Mean squared displacements from trajectories: unwrapped, drift-corrected, origin-averaged.

Positions are unwrapped by minimum-image steps between frames, frame by frame; the mean
displacement of the host framework is removed and only the mobile atoms are kept; the MSD is
averaged over all time origins with the FFT method, O(F log F) in the number of frames F, in
chunks of atoms so memory stays bounded.
"""

from collections.abc import Iterable, Iterator
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


def unwrap_stream(frames: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
    """Continuous positions from (wrapped positions, cell) pairs, one frame at a time.

    Each step is the minimum-image displacement in fractional coordinates of the frame's
    cell, so frames must be close enough that no atom moves half a cell between them.
    """
    previous = unwrapped = None
    for positions, cell in frames:
        fractional = positions @ np.linalg.inv(cell)
        if unwrapped is None:
            unwrapped = np.array(positions, dtype=float)
        else:
            step = fractional - previous
            unwrapped = unwrapped + (step - np.round(step)) @ cell
        previous = fractional
        yield unwrapped


def displacements(frames: Iterable[tuple[np.ndarray, np.ndarray]], mobile: np.ndarray,
                  framework: np.ndarray | None = None) -> np.ndarray:
    """(frames, mobile atoms, 3) unwrapped positions of the `mobile` atoms (a mask) relative
    to the mean displacement of the `framework` atoms (a mask; None: no drift correction).

    Frames are (positions, cell) pairs read one at a time: memory grows with the mobile atoms
    only, so long trajectories of large cells stay within bounds.
    """
    kept, origin = [], None
    for unwrapped in unwrap_stream(frames):
        if framework is None or not framework.any():
            kept.append(unwrapped[mobile])
            continue
        centre = unwrapped[framework].mean(axis=0)
        origin = centre if origin is None else origin
        kept.append(unwrapped[mobile] - (centre - origin))
    if not kept:
        raise ValueError("no frames to take displacements from")
    return np.stack(kept)


def msd(selected: np.ndarray, timestep_ps: float,
        directions: dict[str, np.ndarray] | None = None) -> MSD:
    """Origin-averaged MSD of continuous trajectories (frames, atoms, 3) along x, y, z and any
    `directions`.

    `timestep_ps` is the time between frames. A direction is projected on its unit vector,
    e.g. {"normal": [0, 0, 1]} for an interface normal to c.
    """
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
