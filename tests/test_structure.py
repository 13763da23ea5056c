"""Structure analysis against known answers: fcc shells, ASE's RDF, hand-built units, bond valences."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.geometry.rdf import get_rdf
from ase.spacegroup import crystal

from lotf.analysis.bond_valence import (
    bond_valence_r0,
    bond_valence_sums,
    formal_valences,
    global_instability_index,
)
from lotf.analysis.structure import (
    RDF,
    coordination_fractions,
    coordination_numbers,
    isolated_unit_fraction,
    partial_rdfs,
)
from lotf.build.amorphous import AmorphousSpec, pack
from lotf.build.units import unit_atoms
from lotf.units import density_g_cm3

A_CU = 3.61


def _thermal_fcc(seed: int) -> Atoms:
    atoms = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(5)
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_fcc_shells_and_twelve_neighbours():
    rdf = partial_rdfs([_thermal_fcc(s) for s in range(3)], r_max=5.5, bins=220)
    g = rdf.g[("Cu", "Cu")]
    peaks = [rdf.r[i] for i in range(1, len(g) - 1) if g[i] > 2 and g[i] >= g[i - 1]
             and g[i] > g[i + 1]]
    # fcc shells at a/√2, a, a√(3/2), a√2
    expected = A_CU * np.sqrt([0.5, 1.0, 1.5, 2.0])
    assert len(peaks) == 4
    np.testing.assert_allclose(peaks, expected, atol=0.05)
    minimum = rdf.first_minimum(("Cu", "Cu"))
    assert expected[0] + 0.2 < minimum < expected[1] - 0.2
    assert rdf.coordination(("Cu", "Cu")) == pytest.approx(12.0, abs=1e-9)
    assert rdf.coordination(("Cu", "Cu"), cutoff=3.9) == pytest.approx(18.0, abs=1e-9)


def test_partial_rdfs_equal_ase():
    spec = AmorphousSpec.model_validate({"builder": "amorphous", "units": {"PS4": 8, "Li": 24},
                                         "density": 1.8, "min_distance": {"default": 1.9}})
    frames = [pack(spec, np.random.default_rng(seed)) for seed in range(3)]
    frames[1].set_cell(frames[1].cell * 1.05, scale_atoms=True)  # NPT-like: volumes differ
    r_max = 0.49 * min(frames[0].cell.lengths())
    rdf = partial_rdfs(frames, r_max=r_max, bins=100)
    for pair in [("Li", "S"), ("S", "Li"), ("S", "S"), ("P", "S"), ("Li", "Li")]:
        reference, r = get_rdf(frames, r_max, 100, elements=pair)
        np.testing.assert_allclose(rdf.r, r)
        np.testing.assert_allclose(rdf.g[pair], reference, rtol=1e-10, atol=1e-12)
    edge = rdf.edges[np.searchsorted(rdf.edges, 2.5)]  # coordination counts whole bins
    direct = np.mean([coordination_numbers(a, "P", "S", edge) for a in frames])
    assert direct >= 4.0
    assert rdf.coordination(("P", "S"), cutoff=edge) == pytest.approx(direct, abs=1e-12)


def _placed(name: str, centre, rotation=None) -> Atoms:
    unit = unit_atoms(name)
    unit.positions = unit.positions @ (np.eye(3) if rotation is None else rotation).T + centre
    return unit


def test_borate_and_thiophosphate_units_counted():
    box = [20.0, 20.0, 20.0]
    atoms = _placed("BO3", [3, 3, 3]) + _placed("BO3", [3, 10, 3]) + _placed("BO4", [10, 3, 3]) \
        + _placed("PS4", [15, 15, 15])
    dimer = _placed("PS4", [5, 15, 10])  # a second PS4 sharing one S with a third P: P2S7
    bridge = dimer.positions[1]
    other = dimer.positions[0] + 2 * (bridge - dimer.positions[0])
    atoms += dimer + Atoms("PS3", positions=[other, *(other + (other - bridge) * 0 + d for d in
                                                      ([2.05, 0, 0], [0, 2.05, 0], [0, 0, 2.05]))])
    atoms.set_cell(box)
    atoms.pbc = True
    assert coordination_fractions([atoms], "B", "O", 1.8) == pytest.approx({3: 2 / 3, 4: 1 / 3})
    # three P: one isolated PS4, and a P2S7 pair (each P has 4 S, one of them shared)
    assert isolated_unit_fraction([atoms], "P", "S", 4, 2.5) == pytest.approx(1 / 3)
    assert isolated_unit_fraction([atoms, atoms], "P", "S", 4, 2.5) == pytest.approx(1 / 3)


def test_density_of_copper():
    assert density_g_cm3(bulk("Cu", "fcc", a=A_CU, cubic=True)) == pytest.approx(8.96, rel=0.01)


def test_bond_valence_sum_by_hand():
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    # O'Keeffe & Brese: Na r=1.36 c=1.01, Cl r=0.99 c=2.74 (as pymatgen ships them)
    r0 = 1.36 + 0.99 - 1.36 * 0.99 * (np.sqrt(1.01) - np.sqrt(2.74)) ** 2 / (1.01 * 1.36 + 2.74
                                                                             * 0.99)
    assert bond_valence_r0("Na", "Cl") == pytest.approx(r0)
    expected = 6 * np.exp((r0 - 2.82) / 0.37)  # six bonds at a/2; the next shell is too far
    np.testing.assert_allclose(bond_valence_sums(nacl, {"Na": 1, "Cl": -1}), expected)


def test_gii_of_stable_crystals_is_small_and_grows_with_strain():
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    perovskite = crystal(["Sr", "Ti", "O"], [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
                         spacegroup=221, cellpar=[3.905, 3.905, 3.905, 90, 90, 90])
    assert formal_valences(perovskite) == {"Sr": 2, "Ti": 4, "O": -2}
    for atoms in (nacl, perovskite):
        assert global_instability_index(atoms, formal_valences(atoms)) < 0.2  # stable crystals
    squeezed = nacl.copy()
    squeezed.set_cell(nacl.cell * 0.92, scale_atoms=True)
    assert global_instability_index(squeezed, {"Na": 1, "Cl": -1}) > 0.5


def test_missing_valence_named():
    with pytest.raises(ValueError, match="no formal valence given for Cl"):
        bond_valence_sums(bulk("NaCl", "rocksalt", a=5.64), {"Na": 1})


def test_first_minimum_passes_over_noise_on_the_peak():
    edges = np.linspace(0, 6, 301)
    r = 0.5 * (edges[1:] + edges[:-1])
    g = 6 * np.exp(-((r - 2.4) / 0.15) ** 2) + 2 * np.exp(-((r - 4.2) / 0.3) ** 2)
    g[(r > 2.42) & (r < 2.46)] *= 0.8  # a sampling dip on the first peak's flank
    rdf = RDF(edges, {("Li", "S"): g}, {("Li", "S"): g}, 1)
    # the true minimum lies between the two peaks, not in the dip
    between = (r > 2.6) & (r < 4.0)
    assert rdf.first_minimum(("Li", "S")) == pytest.approx(r[between][np.argmin(g[between])],
                                                           abs=0.1)
