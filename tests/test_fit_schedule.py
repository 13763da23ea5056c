"""The full-parameter fit's schedule on known answers: the held-out split, the ridge's analytic
optimum, early stopping that keeps the best held-out iterate, and the native fit's final exact
least squares over every structure (held-out ones included)."""

import numpy as np
import pytest
from ase import Atoms
from scipy.optimize import rosen, rosen_der

from lotf.potential import FitSchedule
from lotf.potential.native_backend import NativeMTP, _core_model
from lotf.potential.schedule import early_stopped, holdout_indices

from conftest import cu_ag_frames


def _random_cells(count: int, seed: int) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    return [Atoms("Cu4", positions=rng.uniform(0, 5, (4, 3)), cell=[5, 5, 5], pbc=True)
            for _ in range(count)]


def test_holdout_takes_about_its_share_and_at_least_one_but_nothing_from_tiny_sets():
    cells = _random_cells(300, seed=1)
    assert 14 <= len(holdout_indices(cells, 0.1)) <= 46  # binomial(300, 0.1): 30 +- 3 sigma
    assert len(holdout_indices(cells[:2], 0.1)) == 1  # at least one to stop on
    assert holdout_indices(cells[:1], 0.1).size == 0 and holdout_indices(cells, 0.0).size == 0


def test_a_warm_started_generation_never_holds_out_what_its_start_trained_on():
    """Each generation trains on the last one's labels plus new ones, in content order (new
    ones land anywhere); its warm start is the last generation. Held out by position, the
    split moved and put the start's own training structures in the held-out set, whose loss
    then favoured the start: a 224-atom interface kept L-BFGS iteration 1 of 51 each time."""
    def content_order(cells):
        return sorted(cells, key=lambda atoms: float(atoms.positions[0, 0]))

    labels = _random_cells(60, seed=2)
    for new in (_random_cells(20, seed=3), _random_cells(20, seed=4)):
        before = content_order(labels)
        held_before = {id(before[i]) for i in holdout_indices(before, 0.1)}
        trained_before = {id(atoms) for atoms in before} - held_before
        labels = labels + new
        after = content_order(labels)
        held_after = {id(after[i]) for i in holdout_indices(after, 0.1)}
        assert held_after and not held_after & trained_before
        assert held_before <= held_after  # held out once, held out after


def test_the_ridge_shrinks_only_the_masked_coefficients_to_the_analytic_optimum():
    """min |x - a|^2 + r |m x|^2 has x_i = a_i / (1 + r) where masked, a_i elsewhere."""
    target = np.array([3.0, -2.0, 0.5, 4.0])
    mask = np.array([1.0, 0.0, 1.0, 0.0])

    def loss(x, gradient):
        return float((x - target) @ (x - target)), 2 * (x - target)

    outcome = early_stopped(loss, None, np.zeros(4), mask, FitSchedule(steps=100, ridge=0.5))
    assert outcome.parameters == pytest.approx(np.where(mask, target / 1.5, target), abs=1e-5)
    assert np.isnan(outcome.held_loss) and not outcome.stopped_early


def test_early_stopping_keeps_the_best_held_out_iterate_and_waits_patience_iterations():
    """Training on Rosenbrock's valley from (-1.2, 1) to (1, 1); the held-out loss is the
    distance to (0, 0), which the path passes on its way: the kept iterate is the path's
    closest, and the run stops `patience` iterations after it."""
    seen = []

    def train(x, gradient):
        return float(rosen(x)), rosen_der(x)

    def held(x, gradient):
        value = float(x @ x)
        seen.append((value, x.copy()))
        return value, None

    start = np.array([-1.2, 1.0])
    outcome = early_stopped(train, held, start, np.zeros(2),
                            FitSchedule(steps=500, patience=5, ridge=0.0))
    best_value, best_x = min(seen, key=lambda pair: pair[0])
    assert outcome.held_loss == best_value and np.array_equal(outcome.parameters, best_x)
    assert outcome.best_iteration > 0 and outcome.stopped_early
    assert outcome.iterations == outcome.best_iteration + 5
    assert best_value < start @ start and np.linalg.norm(outcome.parameters - 1.0) > 0.1


@pytest.fixture(scope="module")
def alloy_frames():
    return cu_ag_frames(24, seed=3)


def test_the_final_linear_coefficients_are_the_least_squares_optimum_of_every_structure(
        alloy_frames):
    """After the early-stopped L-BFGS, the moment and species coefficients solve the normal
    equations of all structures (held-out ones too), so their loss gradient vanishes there."""
    weights = {"energy": 1.0, "forces": 0.01, "stress": 0.0}
    potential = NativeMTP.create(["Cu", "Ag"], level=8, min_dist=2.0, seed=2,
                                 schedule=FitSchedule(steps=60, holdout=0.25))
    potential.fit(alloy_frames, weights)
    assert potential.last_fit is not None and potential.last_fit.iterations > 0
    samples = potential.training_set(alloy_frames)
    model = _core_model(potential.mtp, potential.parameters())
    value, gradient = samples.loss(model, 1.0, 0.01, 0.0)
    moments, species, _ = potential._basis_blocks()
    linear = gradient[:moments + species]
    assert np.abs(linear).max() < 1e-6 * np.abs(gradient[moments + species:]).max()


def test_a_warm_start_continues_from_the_coefficients_it_is_given(alloy_frames):
    weights = {"energy": 1.0, "forces": 0.01, "stress": 0.0}
    cold = NativeMTP.create(["Cu", "Ag"], level=8, min_dist=2.0, seed=2,
                            schedule=FitSchedule(steps=80)).fit(alloy_frames[:20], weights)
    warm = NativeMTP.create(["Cu", "Ag"], level=8, min_dist=2.0, seed=5,
                            schedule=FitSchedule(steps=80))
    warm.fit(alloy_frames, weights, start=cold.parameters())
    untrained = NativeMTP.create(["Cu", "Ag"], level=8, min_dist=2.0, seed=5,
                                 schedule=FitSchedule(steps=0)).fit(alloy_frames, weights)
    # the radial functions came from the cold fit, not from the new seed's random ones
    assert warm.errors(alloy_frames[20:])["forces_rmse_ev_per_a"] < \
        untrained.errors(alloy_frames[20:])["forces_rmse_ev_per_a"]
    with pytest.raises(ValueError, match="a start of 3 coefficients"):
        warm.fit(alloy_frames, weights, start=np.zeros(3))
