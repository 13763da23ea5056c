"""Energetics with answers known by construction: EMT copper bulks, slabs and surfaces."""

import numpy as np
import pytest
from ase.build import bulk, fcc100
from ase.calculators.emt import EMT

from lotf.analysis.energetics import (
    EV_PER_A2_TO_MJ_PER_M2,
    Estimate,
    amorphization_energy,
    decompose,
    ensemble_mean,
    interface_energy,
    per_formula_unit,
)

A_CU = 3.59  # EMT's lattice constant for Cu


def _energy(atoms) -> float:
    atoms.calc = EMT()
    return atoms.get_potential_energy()


def _gamma(cell_atoms, bulk_cell) -> Estimate:
    """Eq. 4 with one bulk: the cell's energy against its atoms' bulk energy, over two interfaces."""
    bulk_energy = per_formula_unit([np.array([_energy(bulk_cell)])], {"Cu": len(bulk_cell)},
                                   {"Cu": 1})
    counts = decompose({"Cu": len(cell_atoms)}, [{"Cu": 1}])
    a, b, _ = cell_atoms.cell
    area = np.linalg.norm(np.cross(a, b))
    return interface_energy(Estimate(_energy(cell_atoms), 0.0), [bulk_energy], counts, area)


def test_two_identical_bulks_have_no_interface_energy():
    block = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat((2, 2, 3))
    stacked = block.copy()
    top = block.copy()
    top.positions[:, 2] += block.cell[2, 2]
    stacked += top
    stacked.cell[2, 2] *= 2
    assert _gamma(stacked, bulk("Cu", "fcc", a=A_CU, cubic=True)).value == pytest.approx(0,
                                                                                        abs=1e-9)


def test_unbonded_blocks_cost_twice_the_surface_energy():
    block = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat((2, 2, 4))
    gapped = block.copy()
    gapped.cell[2, 2] += 12.0  # the blocks no longer bond across c: two free (100) surfaces
    gamma = _gamma(gapped, bulk("Cu", "fcc", a=A_CU, cubic=True))
    # independently: ASE's (100) slab in vacuum, E_surface = (E_slab - N E_bulk) / 2A
    slab = fcc100("Cu", size=(1, 1, 8), a=A_CU, vacuum=6.0, periodic=True)
    area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
    per_atom = _energy(bulk("Cu", "fcc", a=A_CU))
    surface = (_energy(slab) - len(slab) * per_atom) / (2 * area)
    assert gamma.value > 0
    assert gamma.value == pytest.approx(surface, rel=1e-6)
    assert 500 < gamma.value * EV_PER_A2_TO_MJ_PER_M2 < 2500  # a metal surface: ~1 J/m²


def test_decompose_an_interface_cell():
    lps, lbo = {"Li": 3, "P": 1, "S": 4}, {"Li": 3, "B": 11, "O": 18}
    cell = {"Li": 3 * 12 + 3 * 4, "P": 12, "S": 48, "B": 44, "O": 72}
    np.testing.assert_allclose(decompose(cell, [lps, lbo]), [12, 4])
    with pytest.raises(ValueError, match="not a sum of the bulk formula units"):
        decompose({**cell, "Li": cell["Li"] + 1}, [lps, lbo])
    with pytest.raises(ValueError, match="not a multiple"):
        per_formula_unit([np.array([1.0])], {"Li": 4, "P": 1, "S": 4}, lps)


def test_error_from_frames_and_from_replicas():
    rng = np.random.default_rng(3)
    # one replica of white noise: the block error is the plain standard error, within noise
    series = rng.normal(-5.0, 0.1, 2000)
    one = ensemble_mean([series])
    assert one.value == pytest.approx(series.mean())
    assert one.se == pytest.approx(0.1 / np.sqrt(2000), rel=0.6)
    # replicas stuck in different basins: their spread dominates the frame noise
    replicas = [rng.normal(offset, 0.01, 500) for offset in (-5.0, -4.9, -5.1, -5.05)]
    many = ensemble_mean(replicas)
    means = [r.mean() for r in replicas]
    assert many.se == pytest.approx(np.std(means, ddof=1) / 2)


def test_amorphization_energy_in_mev():
    result = amorphization_energy(Estimate(-4.0, 0.002), -4.0367)
    assert result.value == pytest.approx(36.7)
    assert result.se == pytest.approx(2.0)


def test_a_glass_outside_the_labelled_frames_is_flagged():
    """Synthetic labels with a known range of energies and densities: a glass inside says
    nothing, one below every labelled energy or off the densities says so, with the gap."""
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from lotf.analysis.coverage import Labelled, flags

    frames = []
    for scale, energy in ((1.00, -3.50), (1.02, -3.45), (1.04, -3.40)):
        atoms = bulk("Cu", "fcc", a=3.6 * scale, cubic=True)
        atoms.calc = SinglePointCalculator(atoms, energy=4 * energy)
        frames.append(atoms)
    other = bulk("Ag", "fcc", a=4.1, cubic=True)
    labelled = Labelled.of(frames, frames[1])
    assert labelled.frames == 3 and labelled.energy_per_atom == (-3.50, -3.40)
    inside = labelled.density[0] + 0.5 * (labelled.density[1] - labelled.density[0])
    assert flags(labelled, -3.45, inside, "glass 0") == []
    low = flags(labelled, -3.62, inside, "glass 0")
    assert len(low) == 1 and "120 meV/atom below every one of the 3 labelled frames" in low[0]
    assert "outside the labelled" in flags(labelled, -3.45, labelled.density[1] + 0.1, "g")[0]
    assert "no labelled frame" in flags(Labelled.of(frames, other), -3.0, 9.0, "glass 1")[0]
