"""The part of an oracle's forces from beyond a cutoff, against a pair potential's known range."""

import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones

from lotf.analysis.locality import force_from_beyond

RANGE = 4.0  # Å: the Lennard-Jones pairs end here, so nothing beyond it moves a force


def _lj() -> LennardJones:
    return LennardJones(sigma=2.3, epsilon=0.1, rc=RANGE)


def _frames(count: int) -> list:
    frames = []
    for k in range(count):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (3, 3, 3)  # 10.8 Å cube
        atoms.rattle(0.1, seed=k)
        frames.append(atoms)
    return frames


def test_nothing_beyond_a_pair_potentials_range_moves_its_forces():
    beyond = force_from_beyond(_frames(2), _lj, cutoff=RANGE + 0.5, displacement=0.05)
    assert beyond["atoms"] == 8 and beyond["force_rms"] > 0.05
    assert beyond["force_change_rms"] < 1e-12


def test_within_the_range_the_displaced_atoms_do_move_the_force():
    within = force_from_beyond(_frames(2), _lj, cutoff=RANGE - 1.0, displacement=0.05)
    assert within["force_change_rms"] > 1e-3 * within["force_rms"]
    # the change grows with the displacement (linear response for small ones)
    larger = force_from_beyond(_frames(2), _lj, cutoff=RANGE - 1.0, displacement=0.1)
    assert larger["force_change_rms"] == pytest.approx(2 * within["force_change_rms"], rel=0.2)


def test_a_cell_smaller_than_the_cutoff_is_refused():
    with pytest.raises(ValueError, match="too small for this cutoff"):
        force_from_beyond(_frames(1), _lj, cutoff=20.0)
