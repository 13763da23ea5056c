"""Relaxing positions and cell (the crystal reference of the energetics stage), against EMT's own
equation of state for fcc Cu: a known answer to a tight tolerance."""

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

from lotf.protocols.relax import relax


def _emt_minimum() -> tuple[float, float]:
    """EMT Cu's equilibrium fcc lattice constant (Å) and energy per atom (eV), from an E(V) fit."""
    volumes, energies = [], []
    for a in np.linspace(3.55, 3.63, 9):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    volume, energy, _ = EquationOfState(volumes, energies).fit()
    return volume ** (1 / 3), energy / 4


def test_a_strained_rattled_crystal_relaxes_to_the_equation_of_state_minimum():
    start = bulk("Cu", "fcc", a=3.70, cubic=True) * (2, 2, 2)
    start.rattle(0.05, seed=3)
    done = relax(start, EMT(), fmax=1e-4, steps=500)
    a0, e0 = _emt_minimum()
    assert done.converged and done.max_force < 1e-4
    np.testing.assert_allclose(done.atoms.cell.lengths(), 2 * a0, atol=2e-4)
    np.testing.assert_allclose(done.atoms.cell.angles(), 90, atol=1e-3)
    assert done.energy_per_atom == pytest.approx(e0, abs=1e-6)
    assert np.allclose(start.cell.lengths(), 7.40)  # the input is left as it was


def test_relaxed_under_pressure_holds_that_pressure():
    done = relax(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), pressure_gpa=5.0, fmax=1e-5)
    pressure = -np.trace(done.atoms.get_stress(voigt=False)) / 3 / units.GPa
    assert pressure == pytest.approx(5.0, abs=1e-2)
    assert done.atoms.cell.lengths()[0] < _emt_minimum()[0]  # squeezed


def test_too_few_steps_is_reported_not_hidden():
    start = bulk("Cu", "fcc", a=3.75, cubic=True)
    done = relax(start, EMT(), fmax=1e-4, steps=1)
    assert not done.converged and done.steps == 1
