"""Tracer diffusivity from an MSD, with the statistical error of He et al. (2018).

D = slope / (2 d) of the MSD over the diffusive window. Its relative standard deviation
follows He, Zhu, Epstein & Mo, npj Comput. Mater. 4, 18 (2018): RSD = 3.43 / sqrt(N_eff) + 0.04,
where N_eff = N_ions * MSD(t_total) / a² counts the effective ion hops of length a seen in the
whole run. Replicas at one temperature are combined by inverse-variance weighting.
"""

from dataclasses import dataclass

import numpy as np

from lotf.analysis.msd import MSD

A2_PER_PS_TO_CM2_PER_S = 1e-4
HE_SLOPE, HE_FLOOR = 3.43, 0.04  # He et al. 2018, fit to AIMD of Li conductors
DEFAULT_WINDOW = (0.1, 0.5)  # fractions of the run: past the ballistic start, before few origins


@dataclass(frozen=True)
class Diffusivity:
    """D (cm²/s) with its standard deviation, the effective hops, and the window fitted (ps)."""

    value: float
    sigma: float
    n_eff: float
    window_ps: tuple[float, float]

    def as_dict(self) -> dict:
        """For results.json: an unbounded error (no motion seen) is null."""
        sigma = self.sigma if np.isfinite(self.sigma) else None
        return {"D_cm2_per_s": self.value, "sigma_cm2_per_s": sigma,
                "n_eff": self.n_eff, "window_ps": list(self.window_ps)}


def tracer_diffusivity(result: MSD, projection: str = "total", hop_length: float = 2.5,
                       window_ps: tuple[float, float] | None = None) -> Diffusivity:
    """D from the MSD of a projection ("total": 3D; "x", or a named direction: 1D).

    The window is `window_ps` if given, else 10-50 % of the run. `hop_length` (Å) is the
    distance between sites, for the number of effective hops.
    """
    values = result.total() if projection == "total" else result.values[projection]
    dimensions = 3 if projection == "total" else 1
    start, end = window_ps or tuple(f * result.duration_ps for f in DEFAULT_WINDOW)
    inside = (result.lag_ps >= start) & (result.lag_ps <= end)
    if inside.sum() < 2:
        raise ValueError(f"the MSD window {start:g}-{end:g} ps holds fewer than two lags")
    slope, _ = np.polyfit(result.lag_ps[inside], values[inside], 1)
    diffusivity = max(slope, 0.0) / (2 * dimensions)  # Å²/ps
    total_msd = 2 * dimensions * diffusivity * result.duration_ps
    n_eff = result.atoms * total_msd / hop_length**2
    value = diffusivity * A2_PER_PS_TO_CM2_PER_S
    sigma = value * (HE_SLOPE / np.sqrt(n_eff) + HE_FLOOR) if n_eff > 0 else np.inf
    return Diffusivity(value, float(sigma), float(n_eff), (float(start), float(end)))


def combine(replicas: list[Diffusivity]) -> Diffusivity:
    """Inverse-variance weighted mean of independent estimates at one temperature."""
    sigmas = np.array([d.sigma for d in replicas])
    if np.any(sigmas <= 0) or not np.all(np.isfinite(sigmas)):
        raise ValueError("every replica needs a finite, positive standard deviation")
    weights = 1.0 / sigmas**2
    value = float(np.sum(weights * [d.value for d in replicas]) / weights.sum())
    starts, ends = zip(*(d.window_ps for d in replicas), strict=True)
    return Diffusivity(value, float(1.0 / np.sqrt(weights.sum())),
                       float(sum(d.n_eff for d in replicas)), (min(starts), max(ends)))
