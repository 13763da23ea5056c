"""Diffusion analysis against known answers: brute-force MSD, lattice random walks with known D,
and a calibration of the weighted Arrhenius fit's error bars on synthetic datasets."""

import numpy as np
import pytest
from ase.units import kB

from lotf.analysis.arrhenius import caveats, conductivity, fit_arrhenius
from lotf.analysis.diffusion import HE_FLOOR, HE_SLOPE, combine, tracer_diffusivity
from lotf.analysis.msd import displacements, msd

HOP = 2.5  # Å
DT = 0.1  # ps between frames


def test_fft_msd_equals_the_direct_average_over_origins():
    rng = np.random.default_rng(0)
    positions = np.cumsum(rng.normal(size=(60, 5, 3)), axis=0)
    result = msd(positions, DT)
    for lag in (0, 1, 7, 59):
        steps = positions[lag:] - positions[: 60 - lag]
        direct = (steps**2).mean(axis=(0, 1))
        assert [result.values[a][lag] for a in "xyz"] == pytest.approx(direct, abs=1e-9)


def test_unwrap_undoes_periodic_wrapping_in_a_skewed_cell():
    rng = np.random.default_rng(1)
    cell = np.array([[9.0, 0, 0], [2.0, 8.0, 0], [1.0, -1.0, 10.0]])
    true = np.cumsum(rng.normal(scale=0.6, size=(300, 7, 3)), axis=0)
    fractional = true @ np.linalg.inv(cell)
    wrapped = (fractional % 1.0) @ cell
    unwrapped = displacements(((frame, cell) for frame in wrapped), np.ones(7, dtype=bool))
    np.testing.assert_allclose(unwrapped - unwrapped[0], true - true[0], atol=1e-9)


def _lattice_walk(ions: int, frames: int, probability: float, axes: int, seed: int,
                  drift: float = 0.0, hosts: int = 40) -> np.ndarray:
    """Ions hopping ±HOP along `axes` axes with `probability` per frame, static hosts, all
    carried by a uniform drift, wrapped into a 20 Å cube. Returns wrapped positions."""
    rng = np.random.default_rng(seed)
    hop = rng.random((frames - 1, ions)) < probability
    axis = rng.integers(0, axes, (frames - 1, ions))
    sign = rng.choice([-1.0, 1.0], (frames - 1, ions))
    steps = np.zeros((frames - 1, ions, 3))
    steps[np.nonzero(hop)[0], np.nonzero(hop)[1], axis[hop]] = HOP * sign[hop]
    start = rng.uniform(0, 20, (ions + hosts, 3))
    moves = np.concatenate([steps, np.zeros((frames - 1, hosts, 3))], axis=1)
    positions = start + np.concatenate([np.zeros((1, ions + hosts, 3)), np.cumsum(moves, 0)])
    positions += drift * np.arange(frames)[:, None, None]
    return positions % 20.0


@pytest.mark.parametrize("axes,seed,drift", [(3, 2, 0.0), (3, 3, 0.05), (2, 4, 0.02), (1, 5, 0.0)])
def test_lattice_walks_give_their_known_diffusivity_within_the_stated_error(axes, seed, drift):
    ions, frames, probability = 150, 2000, 0.05
    wrapped = _lattice_walk(ions, frames, probability, axes, seed, drift)
    hosts = np.arange(wrapped.shape[1]) >= ions
    stream = ((positions, np.eye(3) * 20.0) for positions in wrapped)  # one at a time, as read
    result = msd(displacements(stream, ~hosts, framework=hosts), DT)
    per_axis = probability * HOP**2 / (2 * axes) / DT * 1e-4  # cm²/s, along each hopping axis
    estimate = tracer_diffusivity(result, "x", hop_length=HOP)
    assert abs(estimate.value - per_axis) < 2 * estimate.sigma, (estimate, per_axis)
    assert estimate.sigma / estimate.value >= HE_FLOOR
    if axes == 3:
        total = tracer_diffusivity(result, "total", hop_length=HOP)
        assert abs(total.value - per_axis) < 2 * total.sigma
        hops = ions * probability * (frames - 1)
        assert total.n_eff == pytest.approx(hops, rel=0.15)  # N_eff counts the hops made


def test_replicas_combine_by_inverse_variance():
    from lotf.analysis.diffusion import Diffusivity

    combined = combine([Diffusivity(1.0, 0.1, 100, (1, 5)), Diffusivity(2.0, 0.2, 50, (1, 6))])
    assert combined.value == pytest.approx((1 / 0.01 + 2 / 0.04) / (1 / 0.01 + 1 / 0.04))
    assert combined.sigma == pytest.approx((1 / 0.01 + 1 / 0.04) ** -0.5)


def test_arrhenius_error_bars_are_calibrated_on_200_synthetic_datasets():
    rng = np.random.default_rng(11)
    energy, ln_prefactor = 0.30, np.log(1e-3)
    temperatures = np.arange(500.0, 801.0, 50.0)
    truth = np.exp(ln_prefactor - energy / (kB * temperatures))
    n_eff = 40.0 * (temperatures / 500.0) ** 6  # fewer hops when colder: 40 ... ~670
    rsd = HE_SLOPE / np.sqrt(n_eff) + HE_FLOOR
    z_scores, ln_at_300, predicted_se = [], [], []
    for _ in range(200):
        observed = truth * np.exp(rng.normal(0.0, rsd))
        fit = fit_arrhenius(temperatures, observed, observed * rsd)
        z_scores.append((fit.activation_energy - energy) / fit.activation_energy_se)
        value, se = fit.ln_diffusivity(300.0)
        ln_at_300.append(value)
        predicted_se.append(se)
    z = np.abs(z_scores)
    assert 0.60 <= np.mean(z <= 1) <= 0.76 and np.mean(z <= 2) >= 0.92, (np.mean(z <= 1),
                                                                        np.mean(z <= 2))
    # the extrapolation's error, from the full covariance, matches the spread it predicts
    assert np.std(ln_at_300) == pytest.approx(np.mean(predicted_se), rel=0.15)


def test_noiseless_arrhenius_data_are_fitted_exactly():
    temperatures = np.array([400.0, 550.0, 700.0])
    values = 2e-3 * np.exp(-0.45 / (kB * temperatures))
    fit = fit_arrhenius(temperatures, values, 0.1 * values)
    assert fit.activation_energy == pytest.approx(0.45, rel=1e-9)
    assert fit.diffusivity(300.0)[0] == pytest.approx(2e-3 * np.exp(-0.45 / (kB * 300)),
                                                      rel=1e-8)


def test_nernst_einstein_by_hand():
    # n = 0.02 / Å³ = 2e22 / cm³, D = 1e-8 cm²/s, 300 K:
    # σ = 2e22 * (1.602176634e-19)² * 1e-8 / (1.380649e-23 * 300) = 1.2395e-3 S/cm
    value, error = conductivity(1e-8, 1e-9, 0.02, 300.0)
    assert value == pytest.approx(1.2395e-3, rel=1e-3) and error == pytest.approx(value / 10)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least two temperatures"):
        fit_arrhenius([500.0], [1e-6], [1e-7])
    with pytest.raises(ValueError, match="must be positive"):
        fit_arrhenius([500.0, 600.0], [1e-6, 0.0], [1e-7, 1e-7])


def test_a_fit_that_means_little_says_why_and_a_good_one_says_nothing():
    """Synthetic D with a known E_a: the demo's kind of fit (two temperatures, E_a below zero
    within its error, 300 K far below 800-1000 K) is flagged on every count; a ladder from
    720 K in 10 K steps with 5 % errors, extrapolated to 600 K, on none."""
    demo = fit_arrhenius([1000.0, 800.0], [1.0e-5, 1.3e-5], [0.5e-5, 0.6e-5])
    flags = caveats(demo, [1000.0, 800.0], 300.0)
    assert demo.activation_energy < 0 and len(flags) == 4
    assert [f.split(":")[0] for f in flags] == [
        "only 2 temperatures", "negative activation energy",
        "E_a is within 2 standard errors of zero", "300 K lies 8.3 fitted spans of 1/T beyond "
        "the temperatures fitted (800-1000 K)"]
    ladder = np.arange(720.0, 600.0, -10.0)
    values = 2e-3 * np.exp(-0.35 / (kB * ladder))
    good = fit_arrhenius(ladder, values, 0.05 * values)
    assert good.activation_energy == pytest.approx(0.35) and caveats(good, ladder, 600.0) == []
    assert len(caveats(good, ladder, 300.0)) == 1  # 300 K is still far below that ladder
    hops = np.full(len(ladder), 50.0)
    assert caveats(good, ladder, 600.0, hops=hops) == []
    hops[-2:] = [4.0, 2.5]
    assert caveats(good, ladder, 600.0, hops=hops) == [
        "under 10 effective hops at 620 K (4.0), 610 K (2.5): D there rests on a handful of "
        "events (run longer or in a larger cell)"]
