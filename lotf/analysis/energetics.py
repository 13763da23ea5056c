"""Energies of amorphous bulks and interfaces, each with a standard error over replicas and frames.

An ensemble average over MD frames has correlated samples, so the error of one replica's mean
comes from block averages; replicas are independent, so their spread gives the error when there
are several (the larger of the two estimates is kept: neither hides the other).
Interface energy by eq. 4 of Wang, Aykol & Mueller (Chem. Mater. 2023):
γ = (E_interface - N_A E_A - N_B E_B) / (2A), two interfaces per periodic cell.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

EV_PER_A2_TO_MJ_PER_M2 = 16021.766  # 1 eV/Å² in mJ/m²
BLOCKS = 5  # blocks per replica for the error of a time average


@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error."""

    value: float
    se: float

    def as_dict(self, unit: str) -> dict:
        return {f"value_{unit}": self.value, f"se_{unit}": self.se}


def ensemble_mean(replicas: list[np.ndarray]) -> Estimate:
    """Mean of per-frame values over replicas (each a time series), with its standard error."""
    series = [np.asarray(values, dtype=float) for values in replicas if len(values)]
    if not series:
        raise ValueError("no frames to average")
    means = np.array([values.mean() for values in series])
    within = np.sqrt(sum(_block_se(values) ** 2 for values in series)) / len(series)
    between = means.std(ddof=1) / np.sqrt(len(means)) if len(means) > 1 else 0.0
    return Estimate(float(means.mean()), float(max(within, between)))


def _block_se(values: np.ndarray) -> float:
    """Standard error of a correlated series' mean from BLOCKS block averages (0 if too short)."""
    size = len(values) // BLOCKS
    if size < 1:
        return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    blocks = values[: size * BLOCKS].reshape(BLOCKS, size).mean(axis=1)
    return float(blocks.std(ddof=1) / np.sqrt(BLOCKS))


def formula_units(composition: dict[str, int], formula: dict[str, int]) -> float:
    """How many `formula` units `composition` holds; ValueError unless it is a whole multiple."""
    ratios = {element: composition.get(element, 0) / count for element, count in formula.items()}
    units = next(iter(ratios.values()))
    if set(composition) - set(formula) or not all(np.isclose(r, units) for r in ratios.values()):
        raise ValueError(f"composition {dict(composition)} is not a multiple of {dict(formula)}")
    return units


def per_formula_unit(energies: list[np.ndarray], composition: dict[str, int],
                     formula: dict[str, int]) -> Estimate:
    """Ensemble-averaged energy (eV) per formula unit from total energies of each replica."""
    units = formula_units(composition, formula)
    return ensemble_mean([np.asarray(e) / units for e in energies])


def amorphization_energy(amorphous_per_atom: Estimate, crystal_per_atom: float) -> Estimate:
    """E_amorphous - E_crystal per atom, in meV/atom (the crystal energy is taken as exact)."""
    return Estimate(1000.0 * (amorphous_per_atom.value - crystal_per_atom),
                    1000.0 * amorphous_per_atom.se)


def decompose(composition: dict[str, int], formulas: list[dict[str, int]]) -> np.ndarray:
    """The numbers of each formula unit that make up `composition` (exactly, else ValueError)."""
    elements = sorted(set(composition) | {e for f in formulas for e in f})
    matrix = np.array([[f.get(e, 0) for f in formulas] for e in elements], dtype=float)
    target = np.array([composition.get(e, 0) for e in elements], dtype=float)
    counts, *_ = np.linalg.lstsq(matrix, target, rcond=None)
    if not np.allclose(matrix @ counts, target, atol=1e-6) or np.any(counts < -1e-9):
        raise ValueError(f"composition {dict(composition)} is not a sum of the bulk formula units "
                         f"{[dict(f) for f in formulas]}")
    return counts


def interface_energy(interface: Estimate, bulks: list[Estimate], counts: np.ndarray,
                     area: float) -> Estimate:
    """γ in eV/Å² by eq. 4: the interface cell's energy minus its bulk formula units' energies,
    over the two interfaces of a periodic cell (area `area` Å² each). Errors add in quadrature."""
    excess = interface.value - sum(n * b.value for n, b in zip(counts, bulks, strict=True))
    variance = interface.se**2 + sum((n * b.se) ** 2 for n, b in zip(counts, bulks, strict=True))
    return Estimate(excess / (2.0 * area), np.sqrt(variance) / (2.0 * area))


def composition_of(symbols: list[str]) -> dict[str, int]:
    """Element counts of a list of chemical symbols."""
    return dict(Counter(symbols))
