"""The site-energy Jacobian behind the grade: equal to motep's training mode and to finite
differences, for a random three-species MTP with all parameters random."""

import numpy as np
import pytest
from ase.build import bulk

from lotf.potential.motep_backend import MotepMTP

SPECIES = ["Li", "P", "S"]


@pytest.fixture(scope="module")
def potential_and_cell():
    potential = MotepMTP.create(SPECIES, level=12, cutoff=5.0, min_dist=1.6, seed=3)
    rng = np.random.default_rng(5)
    cell = bulk("Li", "sc", a=2.5) * (3, 3, 4)
    cell.numbers = rng.choice([3, 15, 16], len(cell))
    cell.positions += rng.normal(0, 0.15, cell.positions.shape)
    cell.cell[0, 1] = 0.4  # not orthogonal
    return potential, cell


def _site_energies(potential, atoms) -> np.ndarray:
    engine = potential._engine_for_run()
    return np.array(engine.calculate(atoms)["energies"])


def test_equals_motep_training_mode(potential_and_cell):
    from motep.potentials.mtp.cext.engine import CExtMTPEngine

    potential, atoms = potential_and_cell
    ours, _ = potential.basis_rows([atoms], "neighbourhood")
    engine = CExtMTPEngine(potential.data, mode="train")
    engine.calculate(atoms)
    reference = engine.jac_energies(atoms).parameters.T
    assert ours.shape == reference.shape == (len(atoms), potential.data.number_of_parameters_optimized)
    assert np.abs(ours - reference).max() <= 1e-10 * np.abs(reference).max()


def test_equals_finite_differences_of_site_energies(potential_and_cell):
    potential, atoms = potential_and_cell
    jacobian, _ = potential.basis_rows([atoms], "neighbourhood")
    data = potential.data
    moments, species = data.alpha_scalar_moments, data.species_count
    radial = data.radial_coeffs
    rng = np.random.default_rng(1)
    for flat in rng.choice(radial.size, 12, replace=False):
        index = np.unravel_index(flat, radial.shape)
        step = 1e-6
        radial[index] += step
        potential._engine = None
        upper = _site_energies(potential, atoms)
        radial[index] -= 2 * step
        potential._engine = None
        lower = _site_energies(potential, atoms)
        radial[index] += step
        potential._engine = None
        numeric = (upper - lower) / (2 * step)
        column = jacobian[:, moments + species + flat]
        np.testing.assert_allclose(column, numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())
    energies = _site_energies(potential, atoms)  # linear parts: E_i = s_type + sum_a xi_a B_a
    linear = jacobian[:, : moments + species] @ np.concatenate([data.moment_coeffs,
                                                                data.species_coeffs])
    np.testing.assert_allclose(linear, energies, rtol=1e-10)
