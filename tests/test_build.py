"""Amorphous packing: exact density, minimum distances between units, intact units, seeds."""

import numpy as np
import pytest
from ase.data import atomic_masses

from lotf.build import build
from lotf.build.amorphous import AMU_PER_CM3_TO_G, AmorphousSpec, min_distance_matrix, pack
from lotf.errors import UserError

DEMO = {"builder": "amorphous", "units": {"PS4": 4, "Li": 12}, "density": 1.8,
        "min_distance": {"default": 2.0, "Li-S": 2.2, "S-S": 2.9, "Li-Li": 2.3}}


def _spec(**changes) -> AmorphousSpec:
    return AmorphousSpec.model_validate({**DEMO, **changes})


def _density(atoms) -> float:
    return atomic_masses[atoms.numbers].sum() * AMU_PER_CM3_TO_G / atoms.get_volume()


def test_density_composition_and_distances():
    spec = _spec()
    atoms = pack(spec, np.random.default_rng(1))
    assert atoms.get_chemical_formula() == "Li12P4S16"
    assert _density(atoms) == pytest.approx(1.8, rel=1e-12)
    limits = min_distance_matrix(spec)
    distances = atoms.get_all_distances(mic=True)
    other_unit = atoms.get_tags()[:, None] != atoms.get_tags()[None, :]
    allowed = limits[atoms.numbers][:, atoms.numbers]
    assert np.all(distances[other_unit] >= allowed[other_unit] - 1e-9)
    assert distances[other_unit].min() < 3.5  # a real packing, not atoms far apart


def test_units_stay_intact():
    atoms = pack(_spec(), np.random.default_rng(2))
    for tag in set(atoms.get_tags()):
        unit = atoms[atoms.get_tags() == tag]
        if len(unit) == 5:
            p = [i for i, s in enumerate(unit.get_chemical_symbols()) if s == "P"][0]
            bonds = np.delete(unit.get_distances(p, range(5), mic=True), p)
            np.testing.assert_allclose(bonds, 2.05, atol=1e-9)


def test_cell_given_sets_the_box():
    # the paper's Li3PS4 glass box: 96 atoms in 12 x 12 x 14.87 A
    spec = _spec(units={"PS4": 12, "Li": 36}, density=None, cell=(12, 12, 14.87),
                 min_distance={"default": 1.9})
    atoms = pack(spec, np.random.default_rng(0))
    np.testing.assert_allclose(atoms.cell.lengths(), [12, 12, 14.87])
    assert len(atoms) == 96


def test_cell_shape_scaled_to_density():
    atoms = pack(_spec(cell=(1, 1, 2)), np.random.default_rng(0))
    a, b, c = atoms.cell.lengths()
    assert a == pytest.approx(b) and c == pytest.approx(2 * a)
    assert _density(atoms) == pytest.approx(1.8, rel=1e-12)


def test_seeds_reproduce_and_replicas_differ():
    spec = _spec(replicas=2)
    first, second = build(spec, seed=5)
    again = build(spec, seed=5)
    np.testing.assert_array_equal(first.positions, again[0].positions)
    assert not np.allclose(first.positions, second.positions)


def test_impossible_density_fails_clearly():
    with pytest.raises(UserError, match=r"could not pack .*\(6\.000 g/cm³\).*lower the density"):
        pack(_spec(density=6.0), np.random.default_rng(0))
