"""The grade-to-error quantile map on synthetic pairs whose truth is known."""

import numpy as np
import pytest

from lotf.analysis.calibration import QuantileMap, coverage

P95_OF_HALF_NORMAL = 1.959964  # |N(0, s)| has its 95th percentile at 1.96 s


def _pairs(count: int, seed: int):
    """Grades log-uniform on [0.1, 30]; |error| half-normal with scale 0.05 (1 + grade)."""
    rng = np.random.default_rng(seed)
    grades = np.exp(rng.uniform(np.log(0.1), np.log(30), count))
    return grades, np.abs(rng.normal(0.0, 0.05 * (1 + grades)))


def test_the_map_recovers_a_known_p95_and_covers_new_errors_at_95_percent():
    grades, errors = _pairs(20_000, seed=1)
    fitted = QuantileMap.fit(grades, errors, per_bin=400, max_bins=40)
    for grade in (0.3, 1.0, 1.5, 5.0, 15.0):
        truth = P95_OF_HALF_NORMAL * 0.05 * (1 + grade)
        assert fitted(grade) == pytest.approx(truth, rel=0.12), grade
    fresh_grades, fresh_errors = _pairs(20_000, seed=2)
    assert 0.935 <= coverage(fitted, fresh_grades, fresh_errors) <= 0.965
    assert 0.48 <= coverage(fitted, fresh_grades, fresh_errors, 0.5) <= 0.56


def test_quantiles_never_fall_with_the_grade_nor_p50_above_p95():
    rng = np.random.default_rng(3)
    grades = np.linspace(0.1, 10, 600)
    errors = np.where(grades < 5, 1.0, 0.2) * rng.uniform(0.5, 1.5, 600)  # falls at grade 5
    fitted = QuantileMap.fit(grades, errors, per_bin=50)
    assert np.all(np.diff(fitted.values, axis=0) >= 0)
    assert np.all(fitted.values[:, 0] <= fitted.values[:, 1])


def test_a_bin_quantile_is_the_conformal_one_and_grades_past_the_data_are_flagged():
    # one bin of 19 errors 1..19: the split-conformal 95 % quantile is the ceil(20 x 0.95) = 19th
    fitted = QuantileMap.fit(np.full(19, 2.0), np.arange(1.0, 20.0), per_bin=50)
    assert fitted(2.0) == 19.0 and fitted(2.0, 0.5) == 10.0
    assert fitted(100.0) == 19.0 and fitted.beyond([1.0, 2.0, 2.5]).tolist() == [False, False, True]
    with pytest.raises(ValueError, match="as many grades as errors"):
        QuantileMap.fit([1.0, 2.0], [0.1])
