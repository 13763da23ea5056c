"""What a campaign learned, used outside it: the potential as an ASE calculator (forces and
stress are its energy's derivatives, a cell relaxes, the grade is reported) and `lotf export`
(the training set as extxyz and MLIP .cfg equal to the ledger's labels, and a LAMMPS snippet
that gives the calculator's energy and grade in real LAMMPS)."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.filters import FrechetCellFilter
from ase.io import read
from ase.optimize import FIRE
from motep.io.mlip.cfg import read_cfg

from lotf.calculator import MTP
from lotf.cli import main
from lotf.export import SNIPPET
from lotf.lammps_plugins import plugin_path
from lotf.ledger import Ledger
from lotf.md.library import open_lammps

from conftest import emt_campaign
from test_learn import LEARN

CAMPAIGN = {**LEARN, "active_learning": {"max_new": 4, "converge_after": "1 ps"},
            "md": {"dump_every": 25, "phases": [LEARN["md"]["phases"][0]]},
            "stages": ["bootstrap", "learn"]}


@pytest.fixture(scope="module")
def learned(tmp_path_factory) -> Path:
    """A converged EMT Cu campaign's run directory."""
    tmp = tmp_path_factory.mktemp("learned")
    config = emt_campaign(tmp, str(tmp / "calls.txt"), count=4, workers=1, **CAMPAIGN)
    assert main(["run", str(config), "--workdir", str(tmp / "run")]) == 0
    return tmp / "run"


def _final_generation(run: Path) -> tuple[int, dict]:
    generations = json.loads((run / "state.json").read_text())["learn"]["generations"]
    number = max(int(g) for g, facts in generations.items() if "trained_on" in facts)
    return number, generations[str(number)]


def _cell(seed: int = 0):
    atoms = bulk("Cu", "fcc", a=3.62, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_the_calculator_gives_energy_derivatives_and_the_grade(learned):
    atoms = _cell()
    atoms.calc = MTP(learned)
    energy = atoms.get_potential_energy()
    direct = atoms.calc.potential.evaluate(atoms)
    assert energy == direct.energy and atoms.calc.results["grade"] == direct.grade > 0
    assert atoms.calc.max_grade == direct.grade
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, 1e-4),
                               atol=2e-5)
    np.testing.assert_allclose(atoms.get_stress(), calculate_numerical_stress(atoms, 1e-5),
                               atol=2e-6)
    assert atoms.calc.max_grade >= direct.grade  # the displaced cells were graded too


def test_a_cell_relaxes_with_the_calculator(learned):
    atoms = _cell(seed=1)
    atoms.calc = MTP(learned)
    start = atoms.get_potential_energy()
    assert FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=0.005, steps=500)
    assert atoms.get_potential_energy() < start
    assert np.abs(atoms.get_forces()).max() < 0.005 and np.abs(atoms.get_stress()).max() < 1e-3


def test_the_calculator_names_what_it_cannot_load(learned, tmp_path):
    number, _ = _final_generation(learned)
    assert MTP(learned, generation=0).potential is not None
    gen = learned / "potentials" / f"gen-{number:04d}"
    assert MTP(gen).potential.species == ["Cu"]
    assert main(["export", str(learned), "--generation", "999", "--to", str(tmp_path)]) == 2
    assert main(["export", str(tmp_path), "--to", str(tmp_path / "x")]) == 2


def test_export_writes_the_training_set_and_a_lammps_snippet_that_runs(learned, tmp_path,
                                                                       monkeypatch):
    out = tmp_path / "out"
    assert main(["export", str(learned), "--to", str(out)]) == 0
    number, facts = _final_generation(learned)
    training = read(out / "training.extxyz", ":")
    assert len(training) == facts["trained_on"]
    labels = {round(a.get_potential_energy(), 9) for a in Ledger(learned / "ledger.db").labelled()}
    assert {round(a.get_potential_energy(), 9) for a in training} <= labels
    cfg = read_cfg(out / "training.cfg", index=":", species=["Cu"])
    np.testing.assert_allclose([a.get_potential_energy() for a in cfg],
                               [a.get_potential_energy() for a in training], rtol=1e-10)
    np.testing.assert_allclose(cfg[3].get_forces(), training[3].get_forces(), atol=1e-6)

    atoms = _cell(seed=2)
    atoms.calc = MTP(learned)
    energy, grade = atoms.get_potential_energy(), atoms.calc.results["grade"]
    monkeypatch.chdir(out)  # the snippet names its files relative to its folder
    lmp = open_lammps()
    for command in [f"plugin load {plugin_path()}", "units metal", "atom_style atomic",
                    "atom_modify map array", "boundary p p p",
                    f"region box block 0 {atoms.cell[0, 0]} 0 {atoms.cell[1, 1]} 0 "
                    f"{atoms.cell[2, 2]} units box", "create_box 1 box"]:
        lmp.command(command)
    for x in atoms.positions:
        lmp.command(f"create_atoms 1 single {x[0]} {x[1]} {x[2]} remap yes units box")
    lmp.file(SNIPPET)
    lmp.command("thermo_style custom step pe v_grade")
    lmp.command("run 0")
    assert lmp.get_thermo("pe") == pytest.approx(energy, abs=1e-6)
    assert lmp.extract_variable("grade") == pytest.approx(grade, rel=1e-6)
    lmp.close()
