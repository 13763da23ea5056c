"""Weighted Arrhenius fit of ln D against 1/(k_B T), with the full covariance carried on.

Each temperature is weighted by the variance of its ln D (σ_D / D to first order), as He et
al. (2018) and the paper do; the standard errors come from the covariance (XᵀWX)⁻¹ of the
weighted least squares. Extrapolated D and the Nernst-Einstein conductivity carry the error
that covariance implies, slope and intercept together.
"""

from dataclasses import dataclass

import numpy as np
from ase.units import kB

ELEMENTARY_CHARGE = 1.602176634e-19  # C
BOLTZMANN_J = 1.380649e-23  # J/K


@dataclass(frozen=True)
class ArrheniusFit:
    """ln D = ln D0 - E_a / (k_B T): E_a (eV), ln D0 (D in cm²/s) and their covariance."""

    activation_energy: float
    ln_prefactor: float
    covariance: np.ndarray  # of (ln D0, E_a)
    chi2_per_dof: float

    @property
    def activation_energy_se(self) -> float:
        return float(np.sqrt(self.covariance[1, 1]))

    def ln_diffusivity(self, temperature: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """ln D at temperatures (K) and its standard error from the full covariance."""
        x = 1.0 / (kB * np.asarray(temperature, dtype=float))
        gradient = np.stack([np.ones_like(x), -x])  # d lnD / d(lnD0, Ea)
        variance = np.einsum("i...,ij,j...->...", gradient, self.covariance, gradient)
        return self.ln_prefactor - self.activation_energy * x, np.sqrt(variance)

    def diffusivity(self, temperature: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """D (cm²/s) at temperatures (K) and its standard error (delta method on ln D)."""
        value, se = self.ln_diffusivity(temperature)
        return np.exp(value), np.exp(value) * se

    def as_dict(self) -> dict:
        """For results.json (strict JSON: an undefined χ² is null, with the reason)."""
        result = {"activation_energy_ev": self.activation_energy,
                  "activation_energy_se_ev": self.activation_energy_se,
                  "ln_prefactor": self.ln_prefactor,
                  "covariance_lnD0_Ea": self.covariance.tolist(),
                  "chi2_per_dof": self.chi2_per_dof if np.isfinite(self.chi2_per_dof) else None}
        if result["chi2_per_dof"] is None:
            result["chi2_per_dof_note"] = ("undefined: two temperatures fix both parameters, "
                                           "leaving no degree of freedom to test the fit")
        return result


def fit_arrhenius(temperatures, diffusivities, sigmas) -> ArrheniusFit:
    """Weighted least squares of ln D on 1/(k_B T); weights 1 / (σ_D / D)²."""
    temperatures, values, sigmas = (np.asarray(a, dtype=float)
                                    for a in (temperatures, diffusivities, sigmas))
    if len(temperatures) < 2:
        raise ValueError("an Arrhenius fit needs at least two temperatures")
    if np.any(values <= 0) or np.any(sigmas <= 0):
        raise ValueError("diffusivities and their errors must be positive to fit ln D")
    x = 1.0 / (kB * temperatures)
    y, weights = np.log(values), (values / sigmas) ** 2
    design = np.stack([np.ones_like(x), -x], axis=1)
    normal = design.T @ (weights[:, None] * design)
    covariance = np.linalg.inv(normal)
    ln_prefactor, energy = covariance @ design.T @ (weights * y)
    residuals = y - design @ np.array([ln_prefactor, energy])
    dof = len(x) - 2
    chi2 = float(np.sum(weights * residuals**2) / dof) if dof > 0 else float("nan")
    return ArrheniusFit(float(energy), float(ln_prefactor), covariance, chi2)


MIN_TEMPERATURES = 3  # fewer leave no degree of freedom to test the Arrhenius form
SIGNIFICANCE = 2.0  # an E_a within this many standard errors of zero is not measured
FAR = 1.0  # extrapolating 1/T beyond the fitted span by more than this many spans
FEW_HOPS = 10.0  # effective hops below which a temperature's D rests on a handful of events


def caveats(fit: ArrheniusFit, temperatures, extrapolate_to: float | None = None,
            hops=None) -> list[str]:
    """Plain reasons why the fit's numbers mean little, to print beside them (empty: none).
    `hops`: the effective number of hops at each temperature, in the same order."""
    found = []
    if hops is not None:
        few = [f"{t:g} K ({n:.1f})" for t, n in zip(temperatures, hops, strict=True)
               if n < FEW_HOPS]
        if few:
            found.append(f"under {FEW_HOPS:g} effective hops at {', '.join(few)}: D there rests "
                         "on a handful of events (run longer or in a larger cell)")
    temperatures = np.sort(np.asarray(temperatures, dtype=float))
    if len(temperatures) < MIN_TEMPERATURES:
        found.append(f"only {len(temperatures)} temperatures: nothing tests the Arrhenius form "
                     f"(give at least {MIN_TEMPERATURES})")
    if fit.activation_energy < 0:
        found.append("negative activation energy: D does not fall on cooling here, so this is "
                     "no activated diffusion")
    if abs(fit.activation_energy) < SIGNIFICANCE * fit.activation_energy_se:
        found.append(f"E_a is within {SIGNIFICANCE:g} standard errors of zero: not measured "
                     "(longer runs, more temperatures or larger cells would narrow it)")
    if extrapolate_to is not None:
        x = 1.0 / (kB * temperatures)
        target = 1.0 / (kB * extrapolate_to)
        span = max(x.max() - x.min(), 1e-300)
        beyond = max(target - x.max(), x.min() - target, 0.0) / span
        if beyond > FAR:
            found.append(f"{extrapolate_to:g} K lies {beyond:.1f} fitted spans of 1/T beyond "
                         f"the temperatures fitted ({temperatures.min():g}-"
                         f"{temperatures.max():g} K): the extrapolation assumes one mechanism")
    return found


def conductivity(diffusivity_cm2_s, sigma_cm2_s, carriers_per_a3: float, temperature: float,
                 charge: int = 1) -> tuple[float, float]:
    """Nernst-Einstein conductivity (S/cm) with Haven ratio 1: σ = n q² D / (k_B T)."""
    n_per_cm3 = carriers_per_a3 * 1e24
    factor = n_per_cm3 * (charge * ELEMENTARY_CHARGE) ** 2 / (BOLTZMANN_J * temperature)
    return float(factor * diffusivity_cm2_s), float(factor * sigma_cm2_s)
