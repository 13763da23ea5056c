"""A phase converged by the grade is held to the oracle (`active_learning.check`) on EMT Cu:
a check that passes ends the phase; one that misses trains the next generation on the checked
frames and the phase learns on, until its rounds are spent and a flag says so; the errors it
reports are the potential's against the oracle there; a kill after a miss resumes to the
uninterrupted end."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.emt import EMT

from lotf.ledger import Ledger, content_key
from lotf.potential import load

from conftest import emt_campaign, run_lotf

NVT = {"name": "nvt", "ensemble": "nvt", "temperature": 1000, "length": "0.5 ps"}


def _campaign(tmp_path: Path, energy_rmse: float, pressure_rmse: float = 100.0) -> Path:
    return emt_campaign(
        tmp_path, str(tmp_path / "calls.txt"), count=4,
        potential={"level": 8, "cutoff": 5.0,
                   "weights": {"energy": 1.0, "forces": 0.3, "stress": 0.0}},
        active_learning={"max_new": 4, "converge_after": "1 ps",
                         "check": {"frames": 4, "energy_rmse": energy_rmse, "forces_rmse": 10.0,
                                   "pressure_rmse": pressure_rmse, "rounds": 2}},
        bootstrap={"method": "rattle", "count": 4, "rattle": 0.04, "strain": 0.02},
        md={"dump_every": 25, "phases": [NVT]}, stages=["bootstrap", "learn"])


def _learn_state(workdir: Path) -> dict:
    return json.loads((workdir / "state.json").read_text())["learn"]


def _labelled_as(workdir: Path, source: str) -> list:
    return Ledger(workdir / "ledger.db").labelled(keep=lambda label: label == source)


@pytest.fixture(scope="module")
def missed(tmp_path_factory):
    """A check no potential can pass (0.001 meV/atom): two rounds, both missed."""
    tmp = tmp_path_factory.mktemp("missed")
    done = run_lotf(_campaign(tmp, energy_rmse=0.001), tmp / "run", 900)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "run"


def test_a_missed_check_trains_on_its_frames_and_the_phase_learns_on(missed):
    state = _learn_state(missed)
    rounds = state["checks"]["nvt"]
    assert [r["passed"] for r in rounds] == [False, False] and [r["round"] for r in rounds] == [0, 1]
    first, second = rounds[0]["generation"], rounds[1]["generation"]
    assert second > first  # the generation after the first check trained, and learned on
    generations = state["generations"]
    # generation first+1 trained on the 4 checked frames (and nothing else: no break between)
    assert generations[str(first + 1)]["trained_on"] == generations[str(first)]["trained_on"] + 4
    assert state["converged_phases"]["nvt"] == pytest.approx(1.0)  # then 1 ps clean again
    trajectories = missed / "trajectories" / "nvt"
    assert list(trajectories.glob(f"gen-{second:04d}-*.extxyz"))  # MD on the new generation
    results = json.loads((missed / "results.json").read_text())["convergence_checks"]
    assert len(results["flags"]) == 1 and "in all 2 check(s)" in results["flags"][0]
    assert "beyond active_learning.check's tolerance" in (missed / "logs" / "lotf.log").read_text()
    shown = subprocess.run([sys.executable, "-m", "lotf", "status", str(missed)],
                           capture_output=True, text=True, check=True).stdout
    assert f"nvt: 0 of 2 passed; the last (generation {second})" in shown


def test_the_check_reports_the_potentials_errors_against_the_oracle(missed):
    """Recomputed here from the ledger's audit labels of the first checked generation and that
    generation's saved potential, with EMT itself as the oracle."""
    rounds = _learn_state(missed)["checks"]["nvt"]
    generation = rounds[0]["generation"]
    checked = _labelled_as(missed, f"audit-{generation:04d}")
    assert len(checked) == 4
    potential = load(missed / "potentials" / f"gen-{generation:04d}")
    errors = []
    for atoms in checked:
        truth = atoms.copy()
        truth.calc = EMT()
        errors.append((potential.evaluate(atoms).energy - truth.get_potential_energy())
                      / len(atoms))
    rmse = 1e3 * np.sqrt(np.mean(np.square(errors)))
    assert rounds[0]["energy_rmse_mev_per_atom"] == pytest.approx(rmse, rel=1e-6)
    assert rounds[0]["frames"] == 4


def test_a_check_that_passes_ends_the_phase_with_no_new_generation(tmp_path):
    """Within the energy and force tolerance; in NVT the pressure is not judged (a tolerance
    of 1e-6 GPa that no potential meets does not fail it)."""
    done = run_lotf(_campaign(tmp_path, energy_rmse=1e6, pressure_rmse=1e-6), tmp_path / "run",
                    900)
    assert done.returncode == 0, done.stderr[-3000:]
    workdir = tmp_path / "run"
    state = _learn_state(workdir)
    rounds = state["checks"]["nvt"]
    assert len(rounds) == 1 and rounds[0]["passed"]
    assert rounds[0]["pressure_judged"] is False and rounds[0]["pressure_rmse_gpa"] > 1e-6
    final = json.loads((workdir / "state.json").read_text())["generation"]
    assert rounds[0]["generation"] == final  # converged where it was checked
    assert len(_labelled_as(workdir, f"audit-{final:04d}")) == 4
    results = json.loads((workdir / "results.json").read_text())["convergence_checks"]
    assert results["flags"] == []


def test_killed_after_a_missed_check_resumes_to_the_same_end(missed, tmp_path):
    config = _campaign(tmp_path, energy_rmse=0.001)
    workdir = tmp_path / "run"
    killed = run_lotf(config, workdir, 900, LOTF_KILL_AT="check:1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert _learn_state(workdir)["pending_selection"] is not None  # the miss was committed
    done = run_lotf(config, workdir, 900)
    assert done.returncode == 0, done.stderr[-3000:]

    def labelled(run):
        return {content_key(atoms, "") for atoms in Ledger(run / "ledger.db").labelled()}

    assert labelled(workdir) == labelled(missed)
    mine, theirs = _learn_state(workdir), _learn_state(missed)
    assert [r["generation"] for r in mine["checks"]["nvt"]] == \
        [r["generation"] for r in theirs["checks"]["nvt"]]
