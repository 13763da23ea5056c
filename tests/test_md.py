"""MTP molecular dynamics in LAMMPS: energy conservation, barostat, grade halting, errors, MPI,
through both couplings (lotf's pair_style mtp inside LAMMPS, and the potential in Python)."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from lotf.errors import UserError
from lotf.md.coupling import COUPLINGS, choose
from lotf.md.ranks import KILLED
from lotf.md.run import MDSettings, run_md
from lotf.md.session import CallbackError
from lotf.potential import FitSchedule, create, load

from conftest import emt_labelled, run_job

N_ATOMS = 32
BOTH = pytest.mark.parametrize("coupling", sorted(COUPLINGS))


def emt_cu(count: int, rattle: tuple[float, float], strain: float, seed: int) -> list:
    """Rattled and strained 2x2x2 fcc Cu cells labelled by EMT (the truth here)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
        eps = rng.uniform(-strain, strain, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + (eps + eps.T) / 2), scale_atoms=True)
        atoms.positions += rng.normal(0, rng.uniform(*rattle), atoms.positions.shape)
        frames.append(atoms)
    return emt_labelled(frames)


def fitted(frames):
    potential = create(["Cu"], level=8, cutoff=5.0, min_dist=2.0, schedule=FitSchedule(steps=0), seed=1)
    potential.fit(frames, {"energy": 1.0, "forces": 0.01, "stress": 0.001})
    potential.update_active_set(frames, "neighbourhood")
    return potential


@pytest.fixture(scope="module")
def broad():
    """An MTP for Cu fitted on a broad set: rattles up to 0.15 A and 3 % strains."""
    return fitted(emt_cu(80, (0.03, 0.15), 0.03, seed=0))


@pytest.fixture(scope="module")
def narrow():
    """An MTP for Cu fitted on cold data only: small rattles, no strain."""
    return fitted(emt_cu(40, (0.01, 0.03), 0.0, seed=1))


def lattice():
    start = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    start.rattle(0.03, seed=2)
    return start


@BOTH
def test_nve_conserves_energy(broad, coupling):
    result = run_md(broad, lattice(), MDSettings("nve", (300.0, 300.0), 2000, thermo_every=50,
                                                 coupling=coupling))
    assert result.steps == 2000 and not result.halted
    total = result.thermo["etotal"]
    assert (total.max() - total.min()) / N_ATOMS < 1e-3  # eV/atom
    assert result.thermo["temp"][1:].mean() > 50  # it moved


@BOTH
@pytest.mark.parametrize("target", [0.0, 20_000.0])
def test_npt_holds_the_target_pressure(broad, target, coupling):
    result = run_md(broad, lattice(), MDSettings("npt", (300.0, 300.0), 2500, pressure_bar=target,
                                                 thermo_every=10, coupling=coupling))
    assert not result.halted
    pressure = result.thermo["press"][50:]  # after 1 ps
    assert abs(pressure.mean() - target) < 1500  # bar; instantaneous spread is ~15 kbar here


def test_each_barostat_moves_the_cell_components_it_names(broad):
    def cell(barostat):
        result = run_md(broad, lattice(), MDSettings("npt", (300.0, 300.0), 1500,
                                                     pressure_bar=20_000.0, barostat=barostat))
        return result.final.cell.cellpar(), result.final.get_volume()

    start = lattice().cell.cellpar()
    iso, volume = cell("iso")
    assert volume < 0.99 * lattice().get_volume()  # 20 kbar compressed it
    assert np.ptp(iso[:3]) / iso[:3].mean() < 1e-9  # the cubic cell stays cubic
    aniso, _ = cell("aniso")
    assert np.ptp(aniso[:3]) / aniso[:3].mean() > 1e-6  # each axis followed its own stress
    assert np.abs(aniso[3:] - 90.0).max() < 1e-9  # angles fixed
    tri, _ = cell("tri")
    assert np.abs(tri[3:] - 90.0).max() > 1e-6  # the thermal shear stress tilts the cell
    xy, _ = cell("xy")
    assert abs(xy[0] - xy[1]) / xy[0] < 1e-9 and abs(xy[2] - xy[0]) / xy[0] > 1e-6
    assert xy[0] < 0.995 * start[0]  # the plane is compressed too, as one
    z, _ = cell("z")
    assert np.abs(z[:2] - start[:2]).max() < 1e-9  # the lateral cell is fixed
    assert z[2] < 0.998 * start[2]  # compressed along c alone (a uniaxial strain)


def test_nvt_ramp_follows_the_temperature(broad):
    result = run_md(broad, lattice(), MDSettings("nvt", (200.0, 600.0), 3000, thermo_every=100))
    temperature = result.thermo["temp"]
    assert temperature[-10:].mean() > temperature[1:10].mean() + 150


@BOTH
def test_md_pushed_hot_halts_at_the_break_threshold(narrow, coupling):
    settings = MDSettings("nvt", (1500.0, 1500.0), 5000, thermo_every=50,
                          select_threshold=1.5, break_threshold=10.0, coupling=coupling)
    result = run_md(narrow, lattice(), settings)
    assert result.halted and result.steps < 5000
    assert result.break_step == result.steps
    assert result.max_grade > 10.0
    halted = [a for a in result.candidates if a.info["step"] == result.break_step]
    assert halted and halted[0].info["grade"] > 10.0
    assert all(a.info["grade"] > 1.5 for a in result.candidates)
    assert result.restart.info["grade"] <= 1.5 and result.restart.info["step"] < result.break_step
    assert narrow.evaluate(result.restart).grade == pytest.approx(result.restart.info["grade"])


def test_an_error_in_the_potential_stops_the_run_loudly(broad):
    class Failing(type(broad)):
        calls = 0

        def _evaluate(self, atoms, with_basis):
            Failing.calls += 1
            if Failing.calls > 30:
                raise RuntimeError("out of memory in the basis")
            return super()._evaluate(atoms, with_basis)

    failing = Failing(broad.mtp, broad.species, broad.level, broad.active_set)
    with pytest.raises(CallbackError, match="out of memory in the basis"):
        run_md(failing, lattice(), MDSettings("nvt", (300.0, 300.0), 500, thermo_every=50,
                                              coupling="fix_external"))


def test_an_exploding_cell_halts_as_an_extrapolation(broad):
    class Exploding(type(broad)):
        def _evaluate(self, atoms, with_basis):
            result = super()._evaluate(atoms, with_basis)
            result.forces[0] = [1e5, 0.0, 0.0]  # eV/A: atom 0 leaves the box within steps
            return result

    exploding = Exploding(broad.mtp, broad.species, broad.level, broad.active_set)
    result = run_md(exploding, lattice(), MDSettings("nve", (300.0, 300.0), 500, thermo_every=50,
                                                     coupling="fix_external"))
    assert result.halted and result.max_grade == float("inf") and result.steps < 500


@BOTH
def test_two_mpi_ranks_give_the_one_rank_trajectory(broad, tmp_path, coupling):
    broad.save(tmp_path / "pot")
    script = Path(__file__).parent / "md_script.py"
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
    assert mpiexec, "the mpich wheel's mpiexec is missing"
    one = subprocess.run([sys.executable, script, tmp_path / "pot", tmp_path / "one.extxyz",
                          coupling], capture_output=True, text=True, timeout=300)
    command = [mpiexec, "-n", "2", sys.executable, script, tmp_path / "pot",
               tmp_path / "two.extxyz", coupling]
    two = run_job(command, timeout=300)
    if two.returncode and KILLED in two.stdout:  # killed from outside, as lotf.md.ranks retries
        two = run_job(command, timeout=300)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stdout + two.stderr
    first, second = read(tmp_path / "one.extxyz", ":"), read(tmp_path / "two.extxyz", ":")
    assert len(first) == len(second) == 21
    for a, b in zip(first, second, strict=True):
        # the same positions up to a lattice vector (LAMMPS wraps atoms when it re-neighbours,
        # which one and two ranks may do for an atom on a boundary at different steps)
        fractional = np.linalg.solve(a.cell.array.T, (a.positions - b.positions).T).T
        offset = (fractional - np.round(fractional)) @ a.cell.array
        # extxyz keeps 8 decimals; the pair style sums forces over ranks in another order
        assert np.abs(offset).max() < 1e-7
        assert np.abs(a.cell.array - b.cell.array).max() < 1e-7
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-9)


def test_both_couplings_give_the_same_run(broad, narrow):
    """The pair style inside LAMMPS and the potential in Python: one trajectory, one break."""
    for potential, settings in [
            (broad, MDSettings("npt", (600.0, 600.0), 1000, pressure_bar=0.0, thermo_every=100)),
            (narrow, MDSettings("nvt", (1500.0, 1500.0), 5000, thermo_every=50))]:
        runs = [run_md(potential, lattice(), MDSettings(**{**vars(settings), "coupling": name}))
                for name in ("fix_external", "pair_style")]
        python, pair = runs
        assert pair.steps == python.steps and pair.break_step == python.break_step
        assert pair.max_grade == pytest.approx(python.max_grade, rel=1e-9)
        assert np.abs(pair.final.positions - python.final.positions).max() < 1e-9
        assert np.abs(pair.final.cell.array - python.final.cell.array).max() < 1e-9
        assert pair.final.info["energy"] == pytest.approx(python.final.info["energy"], abs=1e-9)
        assert [a.info["step"] for a in pair.candidates] == \
            [a.info["step"] for a in python.candidates]
        assert pair.restart.info["step"] == python.restart.info["step"]
    assert python.halted  # the second pair of runs broke, at the same step


def test_a_saved_generation_runs_from_its_own_files(narrow, tmp_path, monkeypatch):
    """A loaded potential's MD reads the generation's pot.mtp and grade file where they are
    (no copy written); an unsaved one writes them to a scratch folder that is removed after.
    Both runs are the same run."""
    narrow.save(tmp_path / "gen")
    loaded = load(tmp_path / "gen")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    made = []
    real = tempfile.TemporaryDirectory
    monkeypatch.setattr(tempfile, "TemporaryDirectory",
                        lambda **kw: made.append(kw) or real(**kw))
    settings = MDSettings("nvt", (1500.0, 1500.0), 2000, thermo_every=50, coupling="pair_style")
    saved = run_md(loaded, lattice(), settings)
    assert made == [] and list(scratch.iterdir()) == []
    written = run_md(narrow, lattice(), settings)
    assert [kw["prefix"] for kw in made] == ["lotf-pair-"] and list(scratch.iterdir()) == []
    assert saved.steps == written.steps and saved.break_step == written.break_step
    assert np.abs(saved.final.positions - written.final.positions).max() < 1e-9
    loaded.update_active_set(emt_cu(8, (0.01, 0.03), 0.0, seed=3), "neighbourhood")
    assert loaded.saved_in is None  # changed: its saved files no longer describe it


def test_auto_takes_the_pair_style_when_the_potential_has_one(broad):
    assert choose("auto", broad) is COUPLINGS["pair_style"]

    class Pairless(type(broad)):
        pair_style = None

    pairless = Pairless(broad.mtp, broad.species, broad.level, broad.active_set)
    assert choose("auto", pairless) is COUPLINGS["fix_external"]
    with pytest.raises(UserError, match="md.coupling: pair_style cannot run this potential"):
        run_md(pairless, lattice(), MDSettings("nve", (300.0, 300.0), 10,
                                               coupling="pair_style"))


def test_a_motep_potential_runs_in_the_pair_style():
    """motep writes its .mtp as MLIP does; the plugin reads it and runs motep's trajectory."""
    potential = create(["Cu"], backend="motep", level=6, cutoff=5.0, min_dist=2.0,
                       schedule=FitSchedule(steps=0), seed=1)
    frames = emt_cu(30, (0.03, 0.15), 0.03, seed=4)
    potential.fit(frames, {"energy": 1.0, "forces": 0.01, "stress": 0.001})
    potential.update_active_set(frames, "neighbourhood")
    settings = MDSettings("nvt", (900.0, 900.0), 200, thermo_every=50)
    python, pair = (run_md(potential, lattice(), MDSettings(**{**vars(settings), "coupling": name}))
                    for name in ("fix_external", "pair_style"))
    assert np.abs(pair.final.positions - python.final.positions).max() < 1e-9
    assert pair.max_grade == pytest.approx(python.max_grade, rel=1e-9)


def test_npt_that_leaves_the_volume_range_breaks_there(broad):
    """A volume per atom outside the given range is a break at that step, kept to label."""
    start = lattice()
    volume = start.get_volume() / len(start)
    # 20 kbar squeezes the cell by ~1.5 %: a range ending 0.5 % below the start is left
    settings = MDSettings("npt", (300.0, 300.0), 2500, pressure_bar=20_000.0, thermo_every=10,
                          volume_range=(0.995 * volume, 1.1 * volume))
    result = run_md(broad, start, settings)
    assert result.halted and result.steps < 2500 and result.max_grade < 10.0
    off = result.off_volume
    assert off.info["step"] == result.break_step == result.steps
    assert off.get_volume() / len(off) < 0.995 * volume
    assert result.restart.info["step"] < result.break_step
    assert result.restart.get_volume() / len(off) >= 0.995 * volume
    inside = run_md(broad, start, MDSettings(**{**vars(settings), "volume_range": (0.9 * volume,
                                                                                   1.1 * volume)}))
    assert not inside.halted and inside.off_volume is None
