"""Consolidation: one potential trained on two campaigns' labels (Cu, and a Cu-Ag alloy)."""

import json

import numpy as np
import yaml
from ase.io import write

from lotf.cli import main
from lotf.ledger import Ledger

from conftest import cu_cells, emt_campaign
from oracles import count_calls

POTENTIAL = {"level": 8, "cutoff": 5.0, "fit_steps": 0,
             "weights": {"energy": 1.0, "forces": 0.01, "stress": 0.0}}


def _alloy_cell(tmp_path):
    atoms = cu_cells(1, seed=4)[0]
    atoms.numbers[np.random.default_rng(2).choice(len(atoms), 10, replace=False)] = 47
    write(tmp_path / "cuag.extxyz", atoms)
    return "cuag.extxyz"


def _campaigns(tmp_path, counter: str):
    """Two bootstrapped campaigns labelled by the same oracle; return their run directories."""
    runs = []
    for name in ("cu", "cuag"):
        folder = tmp_path / name
        folder.mkdir()
        config = emt_campaign(folder, counter, count=6, potential=POTENTIAL)
        if name == "cuag":
            data = yaml.safe_load(config.read_text())
            data["system"] = {"species": ["Cu", "Ag"],
                              "structures": [{"file": _alloy_cell(folder)}]}
            config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--workdir", str(folder / "run")]) == 0
        runs.append(folder / "run")
    return runs


def test_consolidated_potential_fits_both_campaigns(tmp_path):
    counter = str(tmp_path / "calls.txt")
    runs = _campaigns(tmp_path, counter)
    config = emt_campaign(tmp_path, counter, potential=POTENTIAL,
                          consolidate={"campaigns": [str(run) for run in runs]},
                          stages=["consolidate"])
    data = yaml.safe_load(config.read_text())
    data["system"]["species"] = ["Cu", "Ag"]
    config.write_text(yaml.safe_dump(data))
    assert main(["run", str(config), "--workdir", str(tmp_path / "joint")]) == 0
    ledger = Ledger(tmp_path / "joint" / "ledger.db")
    assert ledger.call_counts() == {"ok": 0, "failed": 0, "quarantined": 0, "imported": 12,
                                    "total": 0}
    assert count_calls(counter) == 12  # the two bootstraps' calls, none more
    result = json.loads((tmp_path / "joint" / "results.json").read_text())["consolidation"]
    assert result["generation"] == 0 and (tmp_path / "joint" / "potentials" / "gen-0000").is_dir()
    for run in runs:
        errors = result["errors"][str(run.resolve())]
        assert errors["structures"] == 6 and errors["energy_rmse_mev_per_atom"] < 5, errors


def test_a_campaign_labelled_by_another_oracle_is_refused(tmp_path, capsys):
    runs = _campaigns(tmp_path, str(tmp_path / "calls.txt"))
    config = emt_campaign(tmp_path, str(tmp_path / "other-counter.txt"), potential=POTENTIAL,
                          consolidate={"campaigns": [str(runs[0])]}, stages=["consolidate"])
    assert main(["run", str(config), "--workdir", str(tmp_path / "joint")]) == 1
    assert "has no labels from this campaign's oracle" in capsys.readouterr().err


def test_a_missing_run_directory_is_a_config_error(tmp_path, capsys):
    config = emt_campaign(tmp_path, str(tmp_path / "calls.txt"),
                          consolidate={"campaigns": ["nowhere"]}, stages=["consolidate"])
    assert main(["validate", str(config)]) == 2
    assert "consolidate.campaigns: [0] 'nowhere' is not a run directory" in capsys.readouterr().err
