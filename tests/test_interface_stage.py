"""An interface campaign end to end: Cu and Ag blocks stacked by the interface builder, learned
with EMT, then diffusion with the displacements along the normal and crossing events."""

import json

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.io import read, write

from conftest import run_lotf


def test_stacked_liquids_cross_their_interface(tmp_path):
    rng = np.random.default_rng(5)
    for name, symbol, a in (("cu", "Cu", 3.6), ("ag", "Ag", 4.09)):
        block = bulk(symbol, "fcc", a=a, cubic=True).repeat((2, 2, 2))
        block.positions += rng.normal(0, 0.3, block.positions.shape)  # disordered: a liquid
        write(tmp_path / f"{name}.extxyz", block)
    config = {
        "name": "cu-ag-interface", "seed": 2,
        "system": {"species": ["Cu", "Ag"], "structures": [{
            "builder": "interface", "bottom": {"file": "cu.extxyz"}, "top": {"file": "ag.extxyz"},
            "gap": [1.8, 2.2], "min_distance": {"Cu-Ag": 2.2, "Cu-Cu": 2.0, "Ag-Ag": 2.2},
            "max_strain": 0.15}]},
        "oracle": {"calculator": "oracles:CountingEMT",
                   "params": {"counter": str(tmp_path / "calls.txt")}, "workers": 2,
                   "timeout": "60 s", "max_attempts": 2},
        "potential": {"level": 8, "cutoff": 5.0, "fit_steps": 0,
                      "weights": {"energy": 1.0, "forces": 0.01, "stress": 0.0}},
        "active_learning": {"max_new": 6, "converge_after": "1 ps"},
        "bootstrap": {"method": "rattle", "count": 6, "rattle": 0.05, "strain": 0.0},
        "md": {"dump_every": 10, "phases": [
            {"name": "hot", "ensemble": "nvt", "temperature": 2200, "length": "1 ps"}]},
        "diffusion": {"species": "Cu", "temperatures": [2200, 1800], "production": "2 ps",
                      "length": "1 ps", "hop_length": 2.5, "directions": {"normal": [0, 0, 1]},
                      "interface": {"anions": {"Cu": 3.0, "Ag": 3.3}, "lag": "0.2 ps"}},
        "melt_quench": {"melt_temperature": 2200, "melt": "0.4 ps", "temperature": 1500,
                        "cool": "0.4 ps", "equilibrate": "0.2 ps", "production": "0.6 ps",
                        "pressure": "0 bar", "chunk": "0.4 ps"},
        "energetics": {"bulks": [{"file": "cu.extxyz"}, {"file": "ag.extxyz"}]},
        "stages": ["bootstrap", "learn", "melt_quench", "energetics", "diffusion"]}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    done = run_lotf(path, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    initial = read(tmp_path / "run" / "structures" / "initial.extxyz")
    assert initial.get_chemical_formula() == "Ag32Cu32"
    assert initial.info["interface_area"] > 0
    result = json.loads((tmp_path / "run" / "results.json").read_text())["diffusion"]
    entries = result["interface"]
    assert [e["temperature_k"] for e in entries] == [2200, 1800]
    glass = read(tmp_path / "run" / "structures" / "melt-quench.extxyz")
    for entry in entries:  # the ladder runs in the glass's cell
        assert entry["period_angstrom"] == pytest.approx(glass.cell.lengths()[2])
        assert sum(entry["counts"]) == 32  # every Cu once
        # a liquid Cu at an Ag liquid: Cu atoms keep meeting Ag, so events are seen
        assert entry["crossings"] > 0 and len(entry["crossing_positions_angstrom"]) == \
            entry["crossings"]
    assert (tmp_path / "run" / "figures" / "diffusion-interface.png").stat().st_size > 10_000
    # eq. 4 against the two bulks (here the unrelaxed blocks, so only its bookkeeping is known):
    # 32 Cu and 32 Ag formula units over the cell's a-b area, in both units
    interface = json.loads((tmp_path / "run" / "results.json").read_text())["energetics"][
        "interface"]
    assert interface["formula_units"] == [32.0, 32.0]
    assert interface["area_angstrom2"] == pytest.approx(np.linalg.norm(np.cross(*glass.cell[:2])))
    assert interface["value_mj_per_m2"] == pytest.approx(
        interface["value_ev_per_angstrom2"] * 16021.766)
    assert interface["se_mj_per_m2"] > 0
