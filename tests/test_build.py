"""Builders: amorphous packing (density, distances, intact units, seeds), interfaces, supercells."""

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_masses, covalent_radii

from lotf.build.amorphous import DEFAULT_MIN_DISTANCE_FACTOR, AmorphousSpec, pack, pair_minimum_table
from lotf.build.interface import InterfaceSpec, stack
from lotf.errors import UserError

DEMO = {"builder": "amorphous", "units": {"PS4": 4, "Li": 12}, "density": 1.8,
        "min_distance": {"default": 2.0, "Li-S": 2.2, "S-S": 2.9, "Li-Li": 2.3}}


def _spec(**changes) -> AmorphousSpec:
    return AmorphousSpec.model_validate({**DEMO, **changes})


def _density(atoms) -> float:
    return atomic_masses[atoms.numbers].sum() * 1.66053906660 / atoms.get_volume()  # amu/Å³


def test_density_composition_and_distances():
    spec = _spec()
    atoms = pack(spec, np.random.default_rng(1))
    assert atoms.get_chemical_formula() == "Li12P4S16"
    assert _density(atoms) == pytest.approx(1.8, rel=1e-12)
    limits = pair_minimum_table(spec.min_distance)
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
    first, second = spec.build(seed=5)
    again = spec.build(seed=5)
    np.testing.assert_array_equal(first.positions, again[0].positions)
    assert not np.allclose(first.positions, second.positions)


def test_impossible_density_fails_clearly():
    # 16 S at S-S >= 2.9 A cannot fill a 5.84 A box even as close-packed spheres: refused at once
    with pytest.raises(UserError, match=r"16 S atoms 2\.90 Å apart do not fit into a 5\.84 x "
                       r"5\.84 x 5\.84 Å box even close-packed; lower the density"):
        pack(_spec(density=6.0), np.random.default_rng(0))
    # room for the spheres, but not for the tetrahedra with their Li: tried, then refused
    with pytest.raises(UserError, match=r"could not pack .*\(3\.000 g/cm³\).*lower the density"):
        pack(_spec(density=3.0), np.random.default_rng(0))


def _between_units(atoms, first: str, second: str) -> np.ndarray:
    symbols, tags = np.array(atoms.get_chemical_symbols()), atoms.get_tags()
    a, b = symbols == first, symbols == second
    distances = atoms.get_all_distances(mic=True)[np.ix_(a, b)]
    return distances[tags[a][:, None] != tags[b][None, :]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_papers_li3ps4_box_packs_with_s_s_at_least_2_9(seed):
    # 12 PS4 + 36 Li in 12 x 12 x 14.87 A (the paper's box): random insertion alone reached
    # S-S >= 2.7 A; overlap removal moves and turns the tetrahedra until no pair is too close
    spec = _spec(units={"PS4": 12, "Li": 36}, density=None, cell=(12, 12, 14.87),
                 min_distance={"S-S": 2.9})
    atoms = pack(spec, np.random.default_rng(seed))
    assert atoms.get_chemical_formula() == "Li36P12S48"
    assert _between_units(atoms, "S", "S").min() >= 2.9
    limits = pair_minimum_table(spec.min_distance)
    tags = atoms.get_tags()
    other = tags[:, None] != tags[None, :]
    allowed = limits[atoms.numbers][:, atoms.numbers]
    assert np.all(atoms.get_all_distances(mic=True)[other] >= allowed[other])
    for tag in set(tags[np.array(atoms.get_chemical_symbols()) == "P"]):
        unit = atoms[tags == tag]
        np.testing.assert_allclose(np.delete(unit.get_distances(0, range(5), mic=True), 0),
                                   2.05, atol=1e-9)  # rigid: the tetrahedron moved whole
    np.testing.assert_array_equal(atoms.positions,
                                  pack(spec, np.random.default_rng(seed)).positions)


LBO = {"units": {"BO3": 32, "BO4": 12, "Li": 12}, "shared": {"O": 72}, "density": None,
       "cell": (12, 12, 10.64), "min_distance": {"Li-O": 1.9}}


def test_li3b11o18_packs_as_a_network_of_bo3_and_bo4_sharing_every_o():
    atoms = pack(_spec(**LBO), np.random.default_rng(0))
    assert atoms.get_chemical_formula() == "B44Li12O72"  # O/B = 1.64, as no isolated unit can
    symbols = np.array(atoms.get_chemical_symbols())
    distances = atoms.get_all_distances(mic=True)
    b_o = distances[np.ix_(symbols == "B", symbols == "O")]
    bonded = b_o < 1.8  # the first B-O shell ends well inside 1.8 A in borates
    assert sorted(bonded.sum(axis=1)) == [3] * 32 + [4] * 12  # each B keeps its unit's O
    assert np.all(bonded.sum(axis=0) == 2)  # every O bridges two B
    triangle, tetrahedron = bonded.sum(axis=1) == 3, bonded.sum(axis=1) == 4
    np.testing.assert_allclose(b_o[triangle][bonded[triangle]], 1.37, rtol=0.05)
    np.testing.assert_allclose(b_o[tetrahedron][bonded[tetrahedron]], 1.47, rtol=0.05)
    assert b_o[~bonded].min() >= 1.4 * 1.37  # no O of another unit close to a B
    li = symbols == "Li"
    assert distances[np.ix_(li, symbols == "O")].min() >= 1.9
    np.testing.assert_array_equal(atoms.positions,
                                  pack(_spec(**LBO), np.random.default_rng(0)).positions)


def test_a_shared_ligand_must_be_able_to_join_the_units():
    with pytest.raises(ValueError, match=r"10 shared O cannot join units with 96 O slots: each O "
                       r"bonds one or two units, so give 48-96"):
        _spec(units={"BO3": 32}, shared={"O": 10})
    with pytest.raises(ValueError, match="`shared: S` needs units with S ligands"):
        _spec(units={"BO3": 4}, shared={"S": 4})


# --- interfaces, supercells, a crystal's density --------------------------------------------
def _bulk(units: dict, seed: int, height: float):
    spec = _spec(units=units, density=None, cell=(12, 12, height), min_distance={"default": 1.8})
    return pack(spec, np.random.default_rng(seed))


def _lateral_li_distances(atoms):
    li = np.array(atoms.get_chemical_symbols()) == "Li"
    block = atoms.get_array("block")
    return atoms.get_all_distances(mic=True)[np.ix_(li & (block == 0), li & (block == 1))]


def test_interface_stacks_two_bulks_with_li_apart():
    lps = _bulk({"PS4": 4, "Li": 12}, 1, 6.0)
    lbo = _bulk({"BO3": 4, "Li": 12}, 2, 5.0)
    atoms = stack(lps, lbo, (1.2, 1.5), {"Li-Li": 2.5}, 0.05, np.random.default_rng(0))
    assert atoms.get_chemical_formula() == "B4Li24O12P4S16"
    assert 1.2 <= atoms.info["gap"] <= 1.5
    np.testing.assert_allclose(atoms.cell.lengths(), [12, 12, 11.0 + 2 * atoms.info["gap"]])
    assert atoms.info["interface_area"] == pytest.approx(144.0)
    assert atoms.info["interface_heights"] == pytest.approx(
        [6.0 + atoms.info["gap"] / 2, 11.0 + 1.5 * atoms.info["gap"]])
    assert _lateral_li_distances(atoms).min() >= 2.5
    # each block is its bulk, moved rigidly: the distances inside it are unchanged
    bottom = atoms[atoms.get_array("block") == 0]
    np.testing.assert_allclose(np.sort(lps.get_all_distances(mic=True).ravel()),
                               np.sort(_in_cell(bottom, lps.cell).get_all_distances(mic=True)
                                       .ravel()), atol=1e-9)


def _in_cell(atoms, cell):
    moved = atoms.copy()
    moved.set_cell(cell)
    return moved


def test_interface_refuses_mismatch_and_impossible_distances():
    lps = _bulk({"PS4": 4, "Li": 12}, 1, 6.0)
    wide = lps.copy()
    wide.set_cell(lps.cell * [1.1, 1, 1], scale_atoms=True)
    with pytest.raises(UserError, match=r"differs from the bottom's by 10\.0%"):
        stack(lps, wide, (1.2, 1.5), {"Li-Li": 2.5}, 0.05, np.random.default_rng(0))
    with pytest.raises(UserError, match="no lateral shift .* widen the gap range"):
        stack(lps, lps, (1.2, 1.5), {"Li-Li": 7.0}, 0.05, np.random.default_rng(0))


def test_interface_keeps_pairs_it_was_not_told_about_apart():
    # a Li on the bottom block's top face under a 1.5 Å grid of S on the top block's bottom
    # face: with a gap of 1.2-1.5 Å some S is within 1.84 Å of the Li at any shift
    bottom = Atoms("Li", scaled_positions=[(0.0, 0.0, 0.999)], cell=[6, 6, 3], pbc=True)
    grid = [(x / 4, y / 4, 0.001) for x in range(4) for y in range(4)]
    top = Atoms("S16", scaled_positions=grid, cell=[6, 6, 3], pbc=True)
    li_s = DEFAULT_MIN_DISTANCE_FACTOR * (covalent_radii[3] + covalent_radii[16])  # 1.98 Å
    with pytest.raises(UserError, match=r"other pairs 0.85 x their covalent radii .* short"):
        stack(bottom, top, (1.2, 1.5), {"Li-Li": 2.5}, 0.05, np.random.default_rng(0))
    atoms = stack(bottom, top, (1.2, 3.0), {"Li-Li": 2.5}, 0.05, np.random.default_rng(0))
    block = atoms.get_array("block")
    assert atoms.get_all_distances(mic=True)[block == 0][:, block == 1].min() >= li_s
    named = stack(bottom, top, (1.2, 1.5), {"Li-S": 1.5}, 0.05, np.random.default_rng(0))
    assert named.get_all_distances(mic=True)[block == 0][:, block == 1].min() >= 1.5


def test_interface_spec_from_files_with_a_supercell(tmp_path):
    ase.io.write(tmp_path / "lps.extxyz", [_bulk({"PS4": 4, "Li": 12}, s, 6.0) for s in (1, 2)])
    ase.io.write(tmp_path / "lbo.extxyz", _bulk({"BO3": 4, "Li": 12}, 3, 5.0))
    spec = InterfaceSpec.model_validate(
        {"builder": "interface", "bottom": {"file": "lps.extxyz", "index": ":"},
         "top": {"file": "lbo.extxyz"}, "supercell": [2, 2, 1], "replicas": 2},
        context={"base_dir": tmp_path})
    first, second = spec.build(seed=0)
    assert len(first) == 4 * 60 and first.cell.lengths()[0] == pytest.approx(24.0)
    assert not np.allclose(first.positions, second.positions)  # bottoms 1 and 2
    np.testing.assert_array_equal(spec.build(seed=0)[1].positions, second.positions)


def test_density_of_a_crystal_file(tmp_path):
    ase.io.write(tmp_path / "cu.cif", bulk("Cu", "fcc", a=3.61, cubic=True))
    spec = AmorphousSpec.model_validate(
        {"builder": "amorphous", "units": {"Cu": 32}, "density_of": {"file": "cu.cif"},
         "min_distance": {"default": 1.5}}, context={"base_dir": tmp_path})
    atoms = spec.build(seed=0)[0]
    assert _density(atoms) == pytest.approx(_density(bulk("Cu", "fcc", a=3.61)), rel=1e-9)
