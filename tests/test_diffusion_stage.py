"""The diffusion stage end to end: EMT Cu melted at three temperatures, learned on the fly."""

import json

import numpy as np
import pytest
from ase.io import write

from lotf.analysis.arrhenius import fit_arrhenius
from lotf.auditing import Audit, within
from lotf.ledger import Ledger
from lotf.potential import load

from conftest import cu_cells, emt_campaign, run_lotf
from test_learn import LEARN

LADDER = [2600, 2200, 1900, 20, 10, 5, 2, 1]
DIFFUSION = {"species": "Cu", "temperatures": LADDER, "production": "3 ps",
             "equilibration": "1 ps",
             "length": "1.5 ps", "timestep": "2 fs", "hop_length": 2.5,
             "directions": {"normal": [0, 0, 1]}}


def test_three_temperatures_give_an_arrhenius_fit_with_error_bars(tmp_path):
    config = emt_campaign(tmp_path, str(tmp_path / "calls.txt"), count=4, **{
        **LEARN, "md": {"dump_every": 10, "phases": [LEARN["md"]["phases"][0]]},
        "diffusion": DIFFUSION, "stages": ["bootstrap", "learn", "diffusion"]})
    start = cu_cells(1)[0]  # disordered, so that the hot cell is a liquid from the start
    start.positions += np.random.default_rng(3).normal(0, 0.35, start.positions.shape)
    write(tmp_path / "cu.extxyz", start)
    done = run_lotf(config, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "run" / "results.json").read_text())["diffusion"]
    rows = result["temperatures"]
    # The trajectories are chaotic: another CPU's BLAS kernels change the fit's last bits and
    # so every path after it. Asserted here is what holds on any path. The ladder stops at
    # the first temperature without a hop: at 2 K a quenched 32-atom cell moves far less than
    # one hop in 3 ps (relaxation is hundredths of an Å), so it stops by then at the latest,
    # and the temperatures below it never run.
    ran = [r["temperature_k"] for r in rows]
    assert ran == LADDER[:len(rows)] and 2 <= len(rows) < len(LADDER)
    assert rows[-1]["n_eff"] < 1 and all(r["n_eff"] >= 1 for r in rows[:-1])
    assert not (tmp_path / "run" / "trajectories" / f"diffusion-{LADDER[len(rows)]}K").exists()
    # 2600 K is twice EMT copper's melting point, and the potential learned that liquid: it
    # flows, with D of order 1e-5..1e-4 cm²/s. Whether 1900 K stays liquid or recrystallises
    # in a 32-atom cell depends on the path, so the liquid rows are those that moved
    liquid = [r for r in rows if r["n_eff"] > 5]
    assert rows[0] in liquid
    for row in liquid:
        assert 1e-6 < row["D_cm2_per_s"] < 1e-3
    for row in rows[:-1]:  # every error bar is He et al.'s, from N_eff
        assert row["sigma_cm2_per_s"] / row["D_cm2_per_s"] == pytest.approx(
            3.43 / np.sqrt(row["n_eff"]) + 0.04)
    # the fit is the weighted fit of the rows with at least one effective hop
    moving = [r for r in rows if r["n_eff"] >= 1]
    assert moving == rows[:-1] and rows[-1]["sigma_cm2_per_s"] is None  # no motion: no error bar
    refit = fit_arrhenius(*zip(*[(r["temperature_k"], r["D_cm2_per_s"], r["sigma_cm2_per_s"])
                                 for r in moving], strict=True))
    fit = result["arrhenius"]
    assert fit["activation_energy_ev"] == pytest.approx(refit.activation_energy)
    assert fit["activation_energy_se_ev"] == pytest.approx(refit.activation_energy_se)
    assert refit.activation_energy_se > 0
    assert result["extrapolated"]["conductivity_s_per_cm"] > 0
    assert all(isinstance(flag, str) for flag in result["flags"])  # what it says, if anything
    # along one direction of an isotropic liquid: the same D within the combined errors
    normal = result["directions"]["normal"]
    # (3 sigma: a chance failure is 0.3 % per row on any path)
    along_by_t = {r["temperature_k"]: r for r in normal["temperatures"]}
    for row in liquid:
        along = along_by_t[row["temperature_k"]]
        spread = np.hypot(row["sigma_cm2_per_s"], along["sigma_cm2_per_s"])
        assert abs(along["D_cm2_per_s"] - row["D_cm2_per_s"]) < 3 * spread
    assert normal["arrhenius"]["activation_energy_se_ev"] > 0
    for name in ("diffusion-arrhenius", "diffusion-msd"):
        assert (tmp_path / "run" / "figures" / f"{name}.png").stat().st_size > 10_000
    _check_audits(tmp_path / "run", result, ran)


def _check_audits(run, result: dict, ran: list[float]) -> None:
    """Two frames of every temperature's analysed run were labelled as audits of the
    generation that ran them; the errors are a direct comparison with those labels, and
    every temperature beyond the default tolerances is flagged."""
    audits = result["audit"]
    assert [a["temperature_k"] for a in audits] == ran and all(a["frames"] == 2 for a in audits)
    ledger = Ledger(run / "ledger.db")
    for generation in {a["generation"] for a in audits}:
        mine = [a for a in audits if a["generation"] == generation]
        labels = ledger.labelled(keep=lambda source, g=generation: source == f"audit-{g:04d}")
        assert len(labels) == 2 * len(mine)
        if len(mine) == 1:  # its labels are this temperature's alone: recompute its errors
            potential = load(run / "potentials" / f"gen-{generation:04d}")
            errors = [(potential.evaluate(atoms).energy - atoms.get_potential_energy())
                      / len(atoms) for atoms in labels]
            assert mine[0]["energy_rmse_mev_per_atom"] == pytest.approx(
                1e3 * np.sqrt(np.mean(np.square(errors))), rel=1e-9)
    for audit in audits:
        assert audit["passed"] == within(audit, Audit())
        flagged = any(flag.startswith(f"at {audit['temperature_k']:g} K the potential is off")
                      for flag in result["flags"])
        assert flagged == (not audit["passed"])


def test_a_ladder_without_diffusion_reports_its_temperatures_and_no_fit(tmp_path):
    """A cold crystal shows no hop: the stage still finishes (a study goes on to its next
    member), gives each temperature's D, and prints no E_a or σ, only the reason."""
    cold = {**DIFFUSION, "temperatures": [20, 10], "production": "1 ps", "equilibration": "0 ps",
            "length": "1 ps", "audit_frames": 0}
    config = emt_campaign(tmp_path, str(tmp_path / "calls.txt"), count=4, **{
        **LEARN, "md": {"dump_every": 10, "phases": [LEARN["md"]["phases"][0]]},
        "diffusion": cold, "stages": ["bootstrap", "learn", "diffusion"]})
    done = run_lotf(config, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "run" / "results.json").read_text())["diffusion"]
    assert [r["temperature_k"] for r in result["temperatures"]] == [20]  # stopped: no hop
    assert result["temperatures"][0]["n_eff"] < 1
    assert result["arrhenius"] is None and result["extrapolated"] is None
    assert result["flags"][0].startswith("fewer than two temperatures show diffusion")
    assert "audit" not in result
    assert (tmp_path / "run" / "figures" / "diffusion-arrhenius.png").is_file()
