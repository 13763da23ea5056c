"""MaxVol active sets, grades and D-optimal selection on matrices with known answers."""

import itertools

import numpy as np
import pytest

from lotf.potential.activeset import SWAP_TOLERANCE, ActiveSet, maxvol


def test_maxvol_gives_a_dominant_submatrix_near_the_global_maximum():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(20):
        rows = rng.normal(size=(9, 3))
        chosen = maxvol(rows)
        coefficients = np.linalg.solve(rows[chosen].T, rows.T).T
        assert np.abs(coefficients).max() <= SWAP_TOLERANCE  # no swap grows the volume
        best = max(abs(np.linalg.det(rows[list(s)])) for s in itertools.combinations(range(9), 3))
        found = abs(np.linalg.det(rows[chosen]))
        assert found >= best / 3 ** 1.5  # the bound for a dominant 3x3 submatrix
        hits += np.isclose(found, best)
    assert hits >= 14  # and usually the global maximum itself


def test_grades_are_coefficients_in_the_active_basis():
    rows = np.random.default_rng(1).normal(size=(30, 4))
    active = ActiveSet.from_rows(rows, "configuration")
    assert active.grades(rows).max() <= SWAP_TOLERANCE
    assert active.grades(active.rows) == pytest.approx(np.ones(4))
    assert active.grades(2.5 * active.rows[2])[0] == pytest.approx(2.5)
    assert active.grades(active.rows[0] + active.rows[1])[0] == pytest.approx(1.0)


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 4 rows"):
        ActiveSet.from_rows(np.ones((3, 4)), "configuration")


def test_select_takes_the_most_extrapolative_and_grows_the_volume():
    rng = np.random.default_rng(2)
    active = ActiveSet.from_rows(rng.normal(size=(40, 4)), "neighbourhood")
    inside = 0.2 * active.rows[:2]  # grade 0.2: nothing to learn
    far = 6.0 * active.rows[3] + active.rows[1]  # grade 6
    farther = 10.0 * active.rows[0]  # grade 10
    rows = np.vstack([inside, far, farther, farther + 1e-3])
    owners = np.array([0, 0, 1, 2, 2])
    chosen, grown = active.select(rows, owners, max_new=5)
    assert chosen[0] == 2 and 1 in chosen and 0 not in chosen
    assert grown.log_volume() == pytest.approx(active.log_volume() + np.log(10) + np.log(6),
                                               rel=1e-9)
    assert active.select(rows, owners, max_new=1)[0] == [2]


def test_greedy_selection_beats_random_selection_in_volume():
    rng = np.random.default_rng(3)
    active = ActiveSet.from_rows(rng.normal(size=(50, 6)), "configuration")
    candidates = rng.normal(size=(200, 6)) * rng.uniform(0.5, 3.0, size=(200, 1))
    owners = np.arange(200)
    chosen, grown = active.select(candidates, owners, max_new=6)
    random_volumes = []
    for trial in range(50):
        picks = np.random.default_rng(trial).choice(200, size=len(chosen), replace=False)
        random_volumes.append(ActiveSet.from_rows(
            np.vstack([active.rows, candidates[picks]]), "configuration").log_volume())
    assert grown.log_volume() > max(random_volumes)


def test_exact_dependencies_between_basis_functions_are_projected_out():
    rng = np.random.default_rng(5)
    independent = rng.normal(size=(40, 4))
    rows = np.hstack([independent, independent[:, :1] + 2 * independent[:, 1:2]])  # 5th = 1st + 2 x 2nd
    active = ActiveSet.from_rows(rows, "neighbourhood")
    assert active.matrix.shape == (4, 4)
    assert active.grades(rows).max() <= SWAP_TOLERANCE
    new = rng.normal(size=4)
    assert active.grades(np.append(new, new[0] + 2 * new[1]))[0] == pytest.approx(
        ActiveSet.from_rows(independent, "neighbourhood").grades(new)[0])


def test_save_and_load(tmp_path):
    active = ActiveSet.from_rows(np.random.default_rng(4).normal(size=(10, 3)), "neighbourhood")
    active.save(tmp_path / "a.npz")
    again = ActiveSet.load(tmp_path / "a.npz")
    assert again.mode == "neighbourhood"
    np.testing.assert_array_equal(again.matrix, active.matrix)
    np.testing.assert_array_equal(again.projection, active.projection)
