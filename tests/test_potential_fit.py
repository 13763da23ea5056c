"""Fitting, grading, selection and files of the MTP, on EMT data whose truth is known."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from lotf.potential import FitSchedule, create, load
from lotf.potential.motep_backend import MotepMTP

DATA = Path(__file__).parent / "data" / "mlip" / "cubic" / "training.cfg.gz"


@pytest.fixture(scope="module")
def cu_frames(tmp_path_factory):
    """200 frames of a 1000 K NVE trajectory of fcc Cu, labelled by ASE's EMT."""
    from motep.io.mlip.cfg import read_cfg

    plain = tmp_path_factory.mktemp("cfg") / "training.cfg"
    with gzip.open(DATA) as source, open(plain, "wb") as target:
        shutil.copyfileobj(source, target)
    return read_cfg(plain, index=":", species=[29])


@pytest.fixture(scope="module")
def fitted(cu_frames):
    potential = create(["Cu"], level=8, cutoff=5.0, min_dist=2.0, schedule=FitSchedule(steps=0), seed=1)
    potential.fit(cu_frames[10::4], {"energy": 1.0, "forces": 0.01, "stress": 0.0})
    potential.update_active_set(cu_frames[10::4], "neighbourhood")
    return potential


def test_fit_reproduces_emt_on_unseen_frames(fitted, cu_frames):
    errors = fitted.errors(cu_frames[11::4])
    assert errors["energy_rmse_mev_per_atom"] < 1.0
    assert errors["forces_rmse_ev_per_a"] < 0.05


def test_grades_inside_and_outside_the_training_data(fitted, cu_frames):
    training_grades = [fitted.evaluate(a).grade for a in cu_frames[10::4]]
    assert max(training_grades) <= 1 + 1e-6
    unseen = [fitted.evaluate(a).grade for a in cu_frames[11::4]]
    assert np.median(unseen) < 1.5  # the same trajectory: mostly interpolation
    squeezed = cu_frames[50].copy()
    squeezed.set_cell(squeezed.cell * 0.9, scale_atoms=True)
    assert fitted.evaluate(squeezed).grade > 10  # break threshold of the paper


def test_neighbourhood_grades_locate_the_extrapolation(fitted, cu_frames):
    atoms = cu_frames[40].copy()
    atoms.positions[7] = atoms.positions[8] + [0.0, 0.0, 1.9]  # crush one pair below min_dist
    result = fitted.evaluate(atoms)
    assert result.atom_grades.argmax() in (7, 8) and result.grade > 10


def test_select_prefers_the_far_candidates(fitted, cu_frames):
    candidates = [cu_frames[12].copy() for _ in range(4)]
    for scale, atoms in zip([1.0, 0.93, 1.0, 1.08], candidates, strict=True):
        atoms.set_cell(atoms.cell * scale, scale_atoms=True)
    chosen = fitted.select(candidates, max_new=2)
    assert sorted(chosen) == [1, 3]


def test_save_load_and_mlip_file_round_trip(fitted, cu_frames, tmp_path):
    fitted.save(tmp_path / "gen")
    again = load(tmp_path / "gen")
    atoms = cu_frames[33]
    first, second = fitted.evaluate(atoms), again.evaluate(atoms)
    # the .mtp text keeps 16 significant digits: equal to round-off
    assert second.energy == pytest.approx(first.energy, rel=1e-12)
    assert second.grade == pytest.approx(first.grade, rel=1e-9)
    np.testing.assert_allclose(second.forces, first.forces, rtol=0, atol=1e-12)
    # the .mtp we write is MLIP's format: read as a bare MLIP file it gives the same numbers
    bare = MotepMTP.from_mtp_file(tmp_path / "gen" / "pot.mtp", ["Cu"])
    assert bare.evaluate(atoms).energy == pytest.approx(first.energy, abs=1e-9)


def test_three_species_and_a_foreign_species():
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(12):
        atoms = bulk("Cu", "fcc", a=3.8, cubic=True) * (2, 2, 1)
        atoms.numbers[rng.choice(16, 8, replace=False)] = rng.choice([47, 79], 8)
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        labels = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
                  "stress": atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **labels)
        frames.append(atoms)
    potential = create(["Cu", "Ag", "Au"], level=6, min_dist=2.0, schedule=FitSchedule(steps=0))
    potential.fit(frames, {"energy": 1.0, "forces": 0.01, "stress": 0.001})
    assert potential.errors(frames)["energy_rmse_mev_per_atom"] < 30
    foreign = frames[0].copy()
    foreign.numbers[0] = 28
    with pytest.raises(ValueError, match=r"species \['Ni'\] are not in"):
        potential.evaluate(foreign)


def test_cells_of_different_sizes_in_turn(fitted, tmp_path):
    """One potential evaluating a 32-atom cell, then a 4-atom one (the energetics stage's
    crystal after the glass frames): each as a fresh potential gives it."""
    fitted.save(tmp_path / "p")
    big = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    big.rattle(0.05, seed=1)
    small = bulk("Cu", "fcc", a=3.6, cubic=True)
    first, second = fitted.evaluate(big), fitted.evaluate(small)
    assert second.energy == pytest.approx(load(tmp_path / "p").evaluate(small).energy, rel=1e-12)
    assert first.energy == pytest.approx(load(tmp_path / "p").evaluate(big).energy, rel=1e-12)
    assert second.forces.shape == (4, 3)
