"""lotf's C++ MTP core against known answers: motep on random three-species potentials, finite
differences of the loss, the least-squares optimum, ASE's neighbour list, MLIP's file format."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from lotf.potential import FitSchedule, _mtp
from lotf.potential.motep_backend import MotepMTP
from lotf.potential.mtp_file import read_mtp, write_mtp
from lotf.potential.native_backend import NativeMTP, _core_model

from conftest import cu_ag_frames

SPECIES = ["Li", "P", "S"]
WEIGHTS = (1.0, 0.01, 0.001)


def _random_cell(seed: int, repeat=(3, 3, 4)) -> Atoms:
    rng = np.random.default_rng(seed)
    cell = bulk("Li", "sc", a=2.5) * repeat
    cell.numbers = rng.choice([3, 15, 16], len(cell))
    cell.positions += rng.normal(0, 0.15, cell.positions.shape)
    cell.cell[0, 1] = 0.4  # not orthogonal
    return cell


def _pair(level: int, seed: int) -> tuple[MotepMTP, NativeMTP]:
    """The same random MTP in both backends (motep draws it, lotf reads motep's file)."""
    reference = MotepMTP.create(SPECIES, level=level, cutoff=5.0, min_dist=1.6, seed=seed)
    return reference, NativeMTP(_as_mtp_file(reference), SPECIES, level)


def _as_mtp_file(potential: MotepMTP):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as scratch:
        potential._save(Path(scratch))
        return read_mtp(Path(scratch) / "pot.mtp")


@pytest.mark.parametrize("level", [6, 12, 16])
def test_equals_motep_on_random_three_species_potentials(level):
    reference, native = _pair(level, seed=level)
    atoms = _random_cell(level)
    expected = reference._evaluate(atoms, with_basis=True)
    ours = native._evaluate(atoms, with_basis=True)
    assert ours.energy == pytest.approx(expected.energy, rel=1e-10)
    for name in ("forces", "stress", "basis"):
        scale = np.abs(getattr(expected, name)).max()
        assert np.abs(getattr(ours, name) - getattr(expected, name)).max() <= 1e-10 * scale, name


def test_forces_and_stress_are_derivatives_of_the_energy():
    _, native = _pair(10, seed=2)
    atoms = _random_cell(2, repeat=(2, 2, 3))
    result = native._evaluate(atoms, with_basis=False)
    step = 1e-5
    for atom, axis in [(0, 0), (5, 2), (11, 1)]:
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * step
            energies.append(native._evaluate(moved, with_basis=False).energy)
        assert -(energies[0] - energies[1]) / (2 * step) == pytest.approx(
            result.forces[atom, axis], rel=1e-6, abs=1e-6)
    strain = np.eye(3)
    strain[0, 2] = strain[2, 0] = step / 2  # xz
    energies = []
    for sign in (1, -1):
        deformed = atoms.copy()
        deformed.set_cell(atoms.cell @ (np.eye(3) + sign * (strain - np.eye(3))), scale_atoms=True)
        energies.append(native._evaluate(deformed, with_basis=False).energy)
    numeric = (energies[0] - energies[1]) / (2 * step) / atoms.get_volume()
    assert numeric == pytest.approx(result.stress[4], rel=1e-5, abs=1e-7)


@pytest.fixture(scope="module")
def labelled_set():
    """Three labelled random cells (labels made up: the loss is what is tested)."""
    rng = np.random.default_rng(7)
    _, native = _pair(12, seed=4)
    frames = []
    for k in range(3):
        atoms = _random_cell(20 + k)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        frames.append((atoms, -4400.0 + k, rng.normal(0, 1, (len(atoms), 3)),
                       np.diag([0.01, 0.02, -0.01]) + 0.003))
    samples = _mtp.TrainingSet(native.cutoff)
    for atoms, energy, forces, stress in frames:
        samples.add(native._types(atoms), atoms.positions, np.array(atoms.cell), atoms.pbc,
                    atoms.get_volume(), energy, forces, stress)
    return native, frames, samples


def test_loss_equals_its_definition(labelled_set):
    native, frames, samples = labelled_set
    expected = 0.0
    for atoms, energy, forces, stress in frames:
        result = native._evaluate(atoms, with_basis=False)
        full = np.array([[result.stress[0], result.stress[5], result.stress[4]],
                         [result.stress[5], result.stress[1], result.stress[3]],
                         [result.stress[4], result.stress[3], result.stress[2]]])
        n, volume = len(atoms), atoms.get_volume()
        expected += (WEIGHTS[0] * ((result.energy - energy) / n) ** 2
                     + WEIGHTS[1] * np.sum((result.forces - forces) ** 2) / n
                     + WEIGHTS[2] * np.sum(((full - stress) * volume / n) ** 2)) / len(frames)
    value, _ = samples.loss(native.model, *WEIGHTS, gradient=False)
    assert value == pytest.approx(expected, rel=1e-12)


def test_loss_equals_motep_training_loss(labelled_set):
    """The loss motep's trainer minimises (its LossSetting: energy per atom, forces per atom,
    stress times volume per atom), so one set of weights means the same fit on both backends."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from motep.loss import LossFunction, LossSetting

    native, frames, samples = labelled_set
    images = []
    for atoms, energy, forces, stress in frames:
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces,
                                          stress=stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]])
        images.append(copy)
    reference = MotepMTP.create(SPECIES, level=12, cutoff=5.0, min_dist=1.6, seed=4)
    setting = LossSetting(energy_weight=WEIGHTS[0], forces_weight=WEIGHTS[1],
                          stress_weight=WEIGHTS[2])
    motep_loss = LossFunction(images, reference.data, setting)(reference.data.parameters)
    value, _ = samples.loss(native.model, *WEIGHTS, gradient=False)
    assert value == pytest.approx(motep_loss, rel=1e-10)


def test_loss_gradient_equals_finite_differences(labelled_set):
    native, _, samples = labelled_set
    model = _core_model(native.mtp, native.mtp.parameters())
    start = model.parameters.copy()
    _, gradient = samples.loss(model, *WEIGHTS)
    rng = np.random.default_rng(3)
    for index in rng.choice(len(start), 25, replace=False):
        step = 1e-6 * max(1.0, abs(start[index]))
        values = []
        for sign in (1, -1):
            shifted = start.copy()
            shifted[index] += sign * step
            model.parameters = shifted
            values.append(samples.loss(model, *WEIGHTS, gradient=False)[0])
        numeric = (values[0] - values[1]) / (2 * step)
        assert gradient[index] == pytest.approx(numeric, rel=2e-6, abs=1e-6 * np.abs(gradient).max())


def test_normal_equations_give_the_least_squares_optimum(labelled_set):
    native, _, samples = labelled_set
    hessian, rhs = samples.normal_equations(native.model, *WEIGHTS)
    linear = len(rhs)
    assert linear == len(native.mtp.alpha_moment_mapping) + len(SPECIES)
    parameters = native.mtp.parameters()
    parameters[:linear] = np.linalg.lstsq(hessian, rhs, rcond=None)[0]
    model = _core_model(native.mtp, parameters)
    value, gradient = samples.loss(model, *WEIGHTS)
    start, _ = samples.loss(native.model, *WEIGHTS, gradient=False)
    assert value < 1e-3 * start
    assert np.abs(gradient[:linear]).max() < 1e-7 * np.abs(gradient).max()


def test_pair_normal_equations_give_the_level2_optimum(labelled_set):
    native, _, samples = labelled_set
    mtp = native.mtp
    moments, species = len(mtp.alpha_moment_mapping), mtp.species_count
    parameters = mtp.parameters()
    parameters[:moments] = 0.0
    parameters[0] = 1.0
    hessian, rhs = samples.pair_normal_equations(_core_model(mtp, parameters), *WEIGHTS)
    solution = np.linalg.lstsq(hessian, rhs, rcond=None)[0]
    radial = parameters[moments + species:].reshape(mtp.radial_coeffs.shape)
    radial[:, :, 0, :] = solution[:-species].reshape(species, species, -1)
    parameters[moments:moments + species] = solution[-species:]
    _, gradient = samples.loss(_core_model(mtp, parameters), *WEIGHTS)
    gradient = gradient.copy()
    pair_part = np.concatenate([gradient[moments:moments + species],
                                gradient[moments + species:].reshape(radial.shape)[:, :, 0].ravel()])
    assert np.abs(pair_part).max() < 1e-7 * np.abs(gradient).max()


@pytest.mark.parametrize("cell", ["small-triclinic", "slab", "molecule"])
def test_neighbours_equal_ase(cell):
    if cell == "small-triclinic":
        atoms = bulk("Cu", "fcc", a=3.6) * (1, 1, 2)  # cell far smaller than the cutoff
        atoms.rattle(0.1, seed=1)
    elif cell == "slab":
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
        atoms.pbc = [True, True, False]
        atoms.rattle(0.1, seed=2)
    else:
        atoms = Atoms("Cu8", positions=np.random.default_rng(3).uniform(0, 6, (8, 3)))
    atoms.positions += 20.0  # outside the cell: wrapping must not matter
    counts = _mtp.neighbour_counts(atoms.positions, np.array(atoms.cell), atoms.pbc, 5.0)
    expected = np.bincount(neighbor_list("i", atoms, 5.0), minlength=len(atoms))
    assert np.array_equal(counts, expected)


def test_verlet_list_equals_fresh_neighbours_along_md():
    _, native = _pair(8, seed=5)
    atoms = _random_cell(9)
    rng = np.random.default_rng(0)
    fresh = NativeMTP(native.mtp, SPECIES, 8)
    for _step in range(30):
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        fresh._verlet = None  # a new list each call
        ours, expected = native._evaluate(atoms, False), fresh._evaluate(atoms, False)
        # bit for bit: the neighbours' order does not depend on where the list was built
        assert np.array_equal(ours.forces, expected.forces) and ours.energy == expected.energy
    assert 1 < native._verlet.builds < 30


def test_mtp_files_round_trip_and_load_in_motep(tmp_path):
    from motep.io.mlip.mtp import read_mtp as motep_read

    _, native = _pair(12, seed=6)
    write_mtp(tmp_path / "pot.mtp", native.mtp)
    again = read_mtp(tmp_path / "pot.mtp")
    assert np.array_equal(again.parameters(), native.mtp.parameters())
    theirs = motep_read(tmp_path / "pot.mtp")
    assert np.array_equal(theirs.radial_coeffs, native.mtp.radial_coeffs)
    assert np.array_equal(theirs.alpha_index_times, native.mtp.alpha_index_times)


def test_bad_mtp_file_names_the_line(tmp_path):
    path = tmp_path / "bad.mtp"
    path.write_text("MTP\nspecies_count = two\n")
    with pytest.raises(ValueError, match=r"bad.mtp:2: species_count"):
        read_mtp(path)


def test_fit_learns_emt_better_than_the_pair_start():
    frames = cu_ag_frames(20, seed=0, strain=0.03)
    weights = {"energy": 1.0, "forces": 0.01, "stress": 0.001}
    errors = {}
    for steps in (0, 150):
        potential = NativeMTP.create(["Cu", "Ag"], level=10, min_dist=2.0, seed=1,
                                     schedule=FitSchedule(steps=steps))
        potential.fit(frames[:15], weights)
        errors[steps] = potential.errors(frames[15:])
    assert errors[150]["forces_rmse_ev_per_a"] < 0.05
    assert errors[150]["energy_rmse_mev_per_atom"] < 3.0
    assert errors[150]["forces_rmse_ev_per_a"] < errors[0]["forces_rmse_ev_per_a"]


def test_results_do_not_depend_on_the_thread_count(labelled_set):
    """Bit for bit: MPI ranks and resumed runs may get another number of OpenMP threads."""
    native, frames, samples = labelled_set
    outputs, original = [], _mtp.max_threads()
    for threads in (1, 2):
        _mtp.set_threads(threads)
        result = native._evaluate(frames[0][0], with_basis=True)
        outputs.append((result.forces, result.stress, result.basis,
                        *samples.loss(native.model, *WEIGHTS),
                        *samples.normal_equations(native.model, *WEIGHTS)))
    _mtp.set_threads(original)
    for one, two in zip(*outputs, strict=True):
        assert np.array_equal(one, two)
