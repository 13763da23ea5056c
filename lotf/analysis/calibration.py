"""What an extrapolation grade means in eV/Å: a map from grade to quantiles of the true error.

Each oracle label of a configuration a potential had graded (a selected candidate, a
validation frame) gives pairs (grade, |error|). The pairs are sorted by grade into bins of
equal count; in each bin the q-quantile is the split-conformal one (the ⌈(n+1)q⌉-th smallest of
n errors, so a new error from the same bin lies below it with probability ≥ q), and the bins'
quantiles are made non-decreasing in the grade by isotonic regression (scipy), weighted by the
bins' counts. Between bins the map interpolates in log grade; below the first bin it takes
the first bin's value; above the largest grade seen it takes the last bin's and says so
(`beyond`): an error estimate there is an extrapolation.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

QUANTILES = (0.5, 0.95)


@dataclass(frozen=True)
class QuantileMap:
    """Quantiles of |error| as a function of the grade, fitted on (grade, error) pairs."""

    grades: np.ndarray  # each bin's median grade, increasing
    values: np.ndarray  # (bins, quantiles): non-decreasing down each column
    counts: np.ndarray  # pairs per bin
    quantiles: tuple[float, ...]
    largest: float  # the largest grade of the pairs: beyond it the map extrapolates

    @classmethod
    def fit(cls, grades, errors, quantiles: tuple[float, ...] = QUANTILES,
            per_bin: int = 50, max_bins: int = 12) -> "QuantileMap":
        """Equal-count bins of at least `per_bin` pairs, at most `max_bins` of them (fewer
        than `per_bin` pairs: one bin)."""
        grades, errors = np.asarray(grades, float).ravel(), np.abs(np.asarray(errors, float)).ravel()
        if grades.shape != errors.shape or not len(grades):
            raise ValueError(f"need as many grades as errors, at least one ({grades.size} and "
                             f"{errors.size} given)")
        order = np.argsort(grades, kind="stable")
        grades, errors = grades[order], errors[order]
        bins = min(max_bins, max(1, len(grades) // per_bin))
        edges = np.linspace(0, len(grades), bins + 1).round().astype(int)
        centre, counts, values = [], [], []
        for start, stop in zip(edges[:-1], edges[1:], strict=True):
            chunk = np.sort(errors[start:stop])
            n = len(chunk)
            centre.append(float(np.median(grades[start:stop])))
            counts.append(n)
            values.append([chunk[min(n, int(np.ceil((n + 1) * q))) - 1] for q in quantiles])
        values, counts = np.array(values), np.array(counts)
        for column in range(len(quantiles)):
            values[:, column] = isotonic_regression(values[:, column], weights=counts).x
        values = np.maximum.accumulate(values, axis=1)  # a higher quantile is never below
        return cls(np.array(centre), values, counts, tuple(quantiles), float(grades[-1]))

    def __call__(self, grade, quantile: float = 0.95) -> np.ndarray:
        """The `quantile` of |error| expected at `grade` (array or scalar)."""
        column = self.quantiles.index(quantile)
        grade = np.log(np.maximum(np.asarray(grade, float), 1e-12))
        return np.interp(grade, np.log(np.maximum(self.grades, 1e-12)), self.values[:, column])

    def beyond(self, grade) -> np.ndarray:
        """Where the map extrapolates: grades above every grade it was fitted on."""
        return np.asarray(grade, float) > self.largest

    def as_dict(self) -> dict:
        return {"pairs": int(self.counts.sum()), "largest_grade": self.largest,
                "bins": [{"grade": float(g), "pairs": int(n),
                          **{f"p{round(100 * q)}": float(v) for q, v in zip(self.quantiles, row,
                                                                           strict=True)}}
                         for g, n, row in zip(self.grades, self.counts, self.values, strict=True)]}


def coverage(calibration: QuantileMap, grades, errors, quantile: float = 0.95) -> float:
    """The share of errors at or below the map's `quantile` at their grades."""
    errors = np.abs(np.asarray(errors, float))
    return float(np.mean(errors <= calibration(grades, quantile)))
