"""MaxVol active sets, grades and D-optimal selection on matrices with known answers.

That the build is MLIP-3's own (same rows, same grades) is tests/test_mlip_grades.py.
"""

import itertools

import numpy as np
import pytest

from lotf.potential.activeset import PLACEHOLDER, THRESHOLD, ActiveSet


def test_the_build_is_a_dominant_submatrix_near_the_global_maximum():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(20):
        rows = rng.normal(size=(9, 3))
        active = ActiveSet.from_rows(rows, "configuration")
        assert active.grades(rows).max() <= THRESHOLD  # no swap grows the volume
        assert np.abs(active.matrix).min(axis=1).max() > PLACEHOLDER  # every placeholder replaced
        best = max(abs(np.linalg.det(rows[list(s)])) for s in itertools.combinations(range(9), 3))
        found = abs(np.linalg.det(active.matrix))
        assert found >= best / 3 ** 1.5  # the bound for a dominant 3x3 submatrix
        hits += np.isclose(found, best)
    assert hits >= 14  # and usually the global maximum itself


def test_grades_are_coefficients_in_the_active_basis():
    rows = np.random.default_rng(1).normal(size=(30, 4))
    active = ActiveSet.from_rows(rows, "configuration")
    assert active.grades(rows).max() <= THRESHOLD
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
    # x10 (the larger of farther and farther + 1e-3, which exceeds it by < 1e-3) and x6
    assert grown.log_volume() - active.log_volume() == pytest.approx(np.log(60), abs=1e-3)
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


def test_a_direction_no_training_row_reaches_keeps_its_placeholder():
    rng = np.random.default_rng(5)
    independent = rng.normal(size=(40, 4))
    rows = np.hstack([independent, independent[:, :1] + 2 * independent[:, 1:2]])  # 5th = 1st + 2 x 2nd
    active = ActiveSet.from_rows(rows, "neighbourhood")
    norms = np.linalg.norm(active.matrix, axis=1)
    assert np.isclose(norms, PLACEHOLDER).sum() == 1 and (norms > 0.1).sum() == 4
    assert active.grades(rows).max() <= THRESHOLD
    real = active.matrix[norms > 0.1] @ active.projection.T
    new = rng.normal(size=4)
    inside = np.append(new, new[0] + 2 * new[1])  # obeys the training's dependency
    coordinates = np.linalg.lstsq(real.T, inside, rcond=None)[0]  # exact: inside is in their span
    assert active.grades(inside)[0] == pytest.approx(np.abs(coordinates).max(), rel=1e-6)
    outside = inside + np.array([0.0, 0.0, 0.0, 0.0, 1e-3])  # breaks it by 1e-3
    assert active.grades(outside)[0] > 1e-3 / PLACEHOLDER / 10  # graded as far extrapolation


def test_selection_stops_at_max_new_configurations_and_keeps_their_rows_growing():
    rng = np.random.default_rng(6)
    active = ActiveSet.from_rows(rng.normal(size=(60, 5)), "neighbourhood")
    candidates = 4.0 * rng.normal(size=(30, 5))  # graded well above 1
    owners = np.repeat(np.arange(10), 3)
    chosen, grown = active.select(candidates, owners, max_new=2)
    assert len(chosen) == 2
    inside = np.isin(owners, chosen)
    assert grown.grades(candidates[inside]).max() <= THRESHOLD  # all of their rows exploited
    assert grown.grades(candidates[~inside]).max() > THRESHOLD  # the others were left out
    assert grown.log_volume() > active.log_volume()


def test_sets_saved_with_an_svd_projection_still_grade(tmp_path):
    rows = np.random.default_rng(7).normal(size=(20, 3))
    projection = np.linalg.qr(np.random.default_rng(8).normal(size=(4, 3)))[0]  # 4 columns -> 3
    old = ActiveSet("configuration", rows[:3], projection)
    old.save(tmp_path / "old.npz")
    again = ActiveSet.load(tmp_path / "old.npz")
    basis = rows @ projection.T  # rows in the 4-column basis
    expected = np.abs(np.linalg.solve(rows[:3].T, rows.T).T).max(axis=1)
    np.testing.assert_allclose(again.grades(basis), expected, rtol=1e-10)


def test_save_and_load(tmp_path):
    active = ActiveSet.from_rows(np.random.default_rng(4).normal(size=(10, 3)), "neighbourhood")
    active.save(tmp_path / "a.npz")
    again = ActiveSet.load(tmp_path / "a.npz")
    assert again.mode == "neighbourhood"
    np.testing.assert_array_equal(again.matrix, active.matrix)
    np.testing.assert_array_equal(again.projection, active.projection)
