"""Melt-quench, structure and energetics stages end to end on EMT Cu, learned on the fly."""

import json
import math
import shutil

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read, write

from lotf.calculator import MTP

from conftest import emt_campaign, run_lotf
from test_learn import LEARN

MELT_QUENCH = {"melt_temperature": 2500, "melt": "1 ps", "temperature": 300, "cool": "3 ps",
               "equilibrate": "1 ps", "production": "2 ps", "pressure": "0 bar",
               "chunk": "1 ps"}


def _campaign(tmp_path, stages):
    write(tmp_path / "fcc.cif", bulk("Cu", "fcc", a=3.59, cubic=True))
    return emt_campaign(tmp_path, str(tmp_path / "calls.txt"), count=4, **{
        **LEARN, "md": {"dump_every": 25, "phases": [LEARN["md"]["phases"][0]]},
        # least squares alone: with the default fit this tiny campaign's Cu stayed crystalline
        # for the 1 ps melt at 2500 K and at 3600 K (MSD 0.3 Å², on one BLAS kernel's path),
        # so there was no glass to measure (README, Known limits); this test is of the stages
        "potential": {**LEARN["potential"], "fit_steps": 0},
        "melt_quench": MELT_QUENCH,
        "structure": {"rdf_max": 5.0, "bins": 100, "crystal": {"file": "fcc.cif"}},
        "energetics": {"crystal": {"file": "fcc.cif"}},
        "diffusion": {"species": "Cu", "temperatures": [3600, 3000], "production": "1 ps",
                      "length": "1 ps", "stop_without_hops": False},
        "stages": stages})


def test_glass_from_melt_quench_measured_and_resumable(tmp_path):
    learned = run_lotf(_campaign(tmp_path, ["bootstrap", "learn"]), tmp_path / "run")
    assert learned.returncode == 0, learned.stderr[-3000:]
    shutil.copytree(tmp_path / "run", tmp_path / "killed")  # the same potential, twice
    config = _campaign(tmp_path, ["bootstrap", "learn", "melt_quench", "structure",
                                  "energetics", "diffusion"])
    done = run_lotf(config, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    # the schedule ran whole: 1 + 3 + 1 + 2 ps in 1 ps chunks, temperatures along the ramp
    folder = tmp_path / "run" / "protocols" / "melt-quench" / "replica-0"
    assert len(list(folder.glob("state-*.extxyz"))) == 7
    history = {k: v for path in sorted(folder.glob("history-*.json"))
               for k, v in json.loads(path.read_text()).items() if k in ("time_ps",)}
    assert history["time_ps"][-1] == pytest.approx(7.0)
    glass = results["melt_quench"]["replicas"][0]
    assert glass["production_temperature_k"] == pytest.approx(300, rel=0.35)
    assert all(flag.startswith("glass 0") for flag in results["melt_quench"]["flags"])
    crystal_density = 4 * 63.546 * 1.66053906660 / 3.59**3
    assert 0.8 * crystal_density < glass["production_density_g_cm3"] < 1.02 * crystal_density
    # a dense metal: 12-14 neighbours to the first minimum; no GII without cation-anion bonds
    structure = results["structure"]
    assert 11.0 < structure["coordination"]["Cu-Cu"]["cn"] < 14.5  # 12-14 in metallic glasses
    assert structure["gii"] is None and structure["frames"] == 2 * 1000 // 50 + 2
    # the glass at 300 K lies above the static crystal, by about a thermal 3/2 kT or more
    energetics = results["energetics"]
    excess = energetics["amorphization_mev_per_atom"]
    assert excess["value_mev"] > 1.5 * 8.617e-2 * 300 * 0.5 and excess["se_mev"] > 0
    fu = energetics["energy_per_formula_unit_ev"]
    assert fu["value_ev"] == pytest.approx(energetics["energy_per_atom_ev"]["value_ev"])
    # the crystal was relaxed with the final potential: at the bottom of its own E(a), and
    # checked by one oracle label of a supercell about the glass's size
    crystal = energetics["crystal"]
    mtp = MTP(tmp_path / "run", generation=energetics["generation"])
    assert crystal["converged"] and crystal["max_force_ev_per_a"] < 0.01
    relaxed = read(tmp_path / "run" / "structures" / "crystal-relaxed.extxyz")
    a = relaxed.cell.lengths()[0]
    np.testing.assert_allclose(relaxed.cell.cellpar(), [a] * 3 + [90] * 3, atol=1e-3)
    scan = []
    for scale in (0.99, 1.0, 1.01):
        strained = bulk("Cu", "fcc", a=scale * a, cubic=True)
        strained.calc = mtp
        scan.append(strained.get_potential_energy() / 4)
    assert scan[1] < min(scan[0], scan[2])
    assert crystal["energy_per_atom_ev"] == pytest.approx(scan[1], abs=1e-6)
    assert excess["value_mev"] == pytest.approx(
        1e3 * (energetics["energy_per_atom_ev"]["value_ev"] - scan[1]), abs=1e-6)
    check = crystal["oracle_check"]
    glass_width = min(read(tmp_path / "run" / "structures" / "melt-quench.extxyz").cell.lengths())
    repeats = [math.ceil(0.95 * glass_width / length) for length in relaxed.cell.lengths()]
    supercell = relaxed.repeat(repeats)
    supercell.calc = EMT()
    truth = supercell.get_potential_energy() / len(supercell)
    assert check["frames"] == 1 and check["generation"] == energetics["generation"]
    assert check["energy_mean_error_mev_per_atom"] == pytest.approx(
        1e3 * (scan[1] - truth), abs=1e-4)
    if abs(check["energy_mean_error_mev_per_atom"]) > 10:  # the audit's default tolerance
        assert any("on the crystal" in flag for flag in energetics["flags"])
    # auto: the melt started from the walker's learned cell (the learn stage's last restart)
    learned = read(tmp_path / "run" / "structures" / "learned.extxyz", ":")
    assert len(learned) == 1  # one walker
    first = read(folder / "chunk-0000-melt.extxyz", 0)
    np.testing.assert_allclose(first.cell.array, learned[0].cell.array, atol=1e-9)
    # the diffusion ladder runs in the glass's cell, from the glass
    glass_cell = read(tmp_path / "run" / "structures" / "melt-quench.extxyz").cell
    hot = sorted((tmp_path / "run" / "trajectories" / "diffusion-3600K").glob("*.extxyz"))[0]
    np.testing.assert_allclose(read(hot, 0).cell.lengths(), glass_cell.lengths(), atol=1e-6)
    assert len(results["diffusion"]["temperatures"]) == 2
    for name in ("melt-quench-history", "structure-rdf"):
        assert (tmp_path / "run" / "figures" / f"{name}.png").stat().st_size > 10_000

    # killed after the third chunk's MD, then resumed: the same glass as without the kill
    # (compared up to the melt-quench: later stages may learn differently after round-off)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    quenched_with = state["stages"]["melt_quench"]
    config = _campaign(tmp_path, ["bootstrap", "learn", "melt_quench"])
    killed = run_lotf(config, tmp_path / "killed", LOTF_KILL_AT="chunk:3")
    assert killed.returncode == -9
    again = run_lotf(config, tmp_path / "killed")
    assert again.returncode == 0, again.stderr[-3000:]
    # the same work: labels, generations, chunks (and no chunk lost or run twice)
    resumed_state = json.loads((tmp_path / "killed" / "state.json").read_text())
    assert resumed_state["stages"]["melt_quench"]["generation"] == quenched_with["generation"]
    ran = tmp_path / "killed" / "protocols" / "melt-quench" / "replica-0"
    steps = [read(path).info["step"] for path in sorted(ran.glob("state-*.extxyz"))]
    assert steps == [500] * 7  # every chunk continues from the previous one's last step
    # the same dynamics: the first chunk agrees closely; later ones drift apart only by
    # round-off (a refit in another process differs in the last digits, chaos grows it)
    for chunk, tolerance in ((0, 1e-6), (6, 0.05)):
        first = read(folder / f"state-{chunk:04d}.extxyz")
        second = read(ran / f"state-{chunk:04d}.extxyz")
        np.testing.assert_allclose(second.positions, first.positions, atol=tolerance)


def test_melt_quench_of_a_supercell_of_the_initial_cell(tmp_path):
    learned = run_lotf(_campaign(tmp_path, ["bootstrap", "learn"]), tmp_path / "run")
    assert learned.returncode == 0, learned.stderr[-3000:]
    short = {**MELT_QUENCH, "melt": "0.2 ps", "cool": "0.2 ps", "equilibrate": "0.2 ps",
             "production": "0.2 ps", "chunk": "0.2 ps", "start": "initial",
             "supercell": [2, 1, 1]}
    config = _campaign(tmp_path, ["bootstrap", "learn", "melt_quench"])
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**data, "melt_quench": short}))
    done = run_lotf(config, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    initial = read(tmp_path / "run" / "structures" / "initial.extxyz")
    glass = read(tmp_path / "run" / "structures" / "melt-quench.extxyz")
    assert len(glass) == 2 * len(initial)
    first = read(tmp_path / "run" / "protocols" / "melt-quench" / "replica-0" /
                 "chunk-0000-melt.extxyz", 0)
    np.testing.assert_allclose(first.cell.lengths(), initial.cell.lengths() * [2, 1, 1],
                               atol=1e-9)
    # the initial cell was minimised on the potential before it was repeated and melted
    start = read(tmp_path / "run" / "structures" / "melt-quench-start.extxyz")
    np.testing.assert_allclose(start.cell.array, initial.cell.array, atol=1e-12)
    shift = first.get_scaled_positions() - start.repeat((2, 1, 1)).get_scaled_positions()
    np.testing.assert_allclose(shift - np.round(shift), 0.0, atol=1e-6)  # LAMMPS wraps atoms
    calculator = MTP(tmp_path / "run", generation=_generation_melted_on(tmp_path / "run"))
    initial.calc, start.calc = calculator, calculator
    assert start.get_potential_energy() < initial.get_potential_energy()
    assert np.abs(start.get_forces()).max() < 0.1 < np.abs(initial.get_forces()).max()


def _generation_melted_on(run) -> int:
    """The generation the melt-quench began on: the newest before its first chunk's break."""
    log = (run / "logs" / "lotf.log").read_text()
    marker = "melt-quench: start 0 minimised on generation "
    return int(log.split(marker)[1].split(":")[0])
