"""Bootstrap methods other than rattling: oracle-driven MD (resumable by replay) and imports."""

import gzip
import json
import shutil
from pathlib import Path

import pytest
from ase.io import read, write

from lotf.cli import main
from lotf.ledger import Ledger, content_key
from lotf.store import read_structures

from conftest import cu_cells, emt_campaign, emt_labelled, run_lotf

MLIP_TRAINING = Path(__file__).parent / "data" / "mlip" / "cubic" / "training.cfg.gz"
ORACLE_MD = {"method": "md", "temperature": 800, "timestep": "2 fs", "length": "40 fs",
             "discard": "10 fs", "every": "10 fs"}  # 21 steps, frames at 10, 20, 30, 40 fs


def _calls(counter: Path) -> int:
    return len(counter.read_text().split()) if counter.is_file() else 0


def test_oracle_md_keeps_every_nth_frame_and_every_step_is_in_the_ledger(tmp_path):
    counter = tmp_path / "calls.txt"
    config = emt_campaign(tmp_path, str(counter), workers=1, bootstrap=ORACLE_MD)
    done = run_lotf(config, tmp_path / "run", 300)
    assert done.returncode == 0, done.stderr[-3000:]
    ledger = Ledger(tmp_path / "run" / "ledger.db")
    assert len(ledger) == 21 and _calls(counter) == 21
    kept = read_structures(tmp_path / "run" / "structures" / "bootstrap.extxyz")
    assert len(kept) == 4
    training = ledger.labelled(exclude=("validation", "oracle-md-step"))
    assert {content_key(a, "") for a in training} == {content_key(a, "") for a in kept}
    temperatures = [a.get_temperature() for a in kept]  # the frames carry their velocities
    assert all(100 < t < 2000 for t in temperatures), temperatures


def test_oracle_md_killed_midway_resumes_without_repeating_a_call(tmp_path):
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    reference = emt_campaign(reference_dir, str(reference_dir / "calls.txt"), workers=1,
                             bootstrap=ORACLE_MD)
    assert run_lotf(reference, reference_dir / "run", 300).returncode == 0
    counter = tmp_path / "calls.txt"
    config = emt_campaign(tmp_path, str(counter), workers=1, bootstrap=ORACLE_MD)
    killed = run_lotf(config, tmp_path / "run", 300, LOTF_KILL_AT="label:9")
    assert killed.returncode == -9 and _calls(counter) == 9
    done = run_lotf(config, tmp_path / "run", 300)
    assert done.returncode == 0, done.stderr[-3000:]
    # the kill came between the 9th call's result and its ledger entry: that call is lost and
    # made again; the 8 recorded before it were replayed from the ledger
    assert _calls(counter) == 21 + 1
    assert Ledger(tmp_path / "run" / "ledger.db").call_counts()["total"] == 21
    ours = read(tmp_path / "run" / "structures" / "bootstrap.extxyz", ":")
    theirs = read(reference_dir / "run" / "structures" / "bootstrap.extxyz", ":")
    assert [a.positions.tolist() for a in ours] == [a.positions.tolist() for a in theirs]


def test_import_extxyz_and_mlip_cfg_without_oracle_calls(tmp_path, capsys):
    write(tmp_path / "labelled.extxyz", emt_labelled(cu_cells(3, seed=9)))
    with gzip.open(MLIP_TRAINING, "rb") as source, open(tmp_path / "train.cfg", "wb") as target:
        shutil.copyfileobj(source, target)
    frames_in_cfg = (tmp_path / "train.cfg").read_text().count("BEGIN_CFG")
    counter = tmp_path / "calls.txt"
    files = [{"file": "labelled.extxyz"}, {"file": "train.cfg"}]
    config = emt_campaign(tmp_path, str(counter), bootstrap={"method": "import", "files": files})
    for _ in range(2):  # the second run finds everything in the ledger
        assert main(["run", str(config), "--workdir", str(tmp_path / "run")]) == 0
    assert _calls(counter) == 0
    ledger = Ledger(tmp_path / "run" / "ledger.db")
    assert len(ledger.labelled()) == 3 + frames_in_cfg
    capsys.readouterr()
    assert main(["status", str(tmp_path / "run"), "--json"]) == 0
    calls = json.loads(capsys.readouterr().out)["oracle_calls"]
    assert calls["imported"] == 3 + frames_in_cfg and calls["total"] == 0
    energies = sorted(a.get_potential_energy() for a in ledger.labelled())
    expected = sorted([a.get_potential_energy() for a in emt_labelled(cu_cells(3, seed=9))]
                      + [a.get_potential_energy() for a in _cfg_frames(tmp_path / "train.cfg")])
    assert energies == pytest.approx(expected, abs=1e-9)


def _cfg_frames(path: Path) -> list:
    from motep.io.mlip.cfg import read_cfg

    with open(path) as handle:
        return read_cfg(handle, index=":", species=["Cu"])


def test_importing_unlabelled_frames_is_a_clear_error(tmp_path, capsys):
    write(tmp_path / "bare.extxyz", cu_cells(2))
    config = emt_campaign(tmp_path, str(tmp_path / "calls.txt"),
                          bootstrap={"method": "import", "files": [{"file": "bare.extxyz"}]})
    assert main(["validate", str(config)]) == 2
    error = capsys.readouterr().err
    assert "bootstrap.files: [0] bare.extxyz: frame 0 has no energy and forces" in error
    assert "Traceback" not in error


def test_learning_starts_where_the_oracle_md_ended(tmp_path):
    """After an oracle-MD bootstrap the first learning segment starts from the last frame the
    oracle MD kept (equilibrated and labelled, with its velocities), as the paper's LOTF-MD
    starts from its AIMD; not from the initial structure."""
    counter = tmp_path / "calls.txt"
    config = emt_campaign(tmp_path, str(counter), workers=1, bootstrap=ORACLE_MD, **{
        "potential": {"level": 8, "cutoff": 5.0, "fit_steps": 0,
                      "weights": {"energy": 1.0, "forces": 0.3, "stress": 0.0}},
        "active_learning": {"max_new": 4, "converge_after": "200 fs"},
        "md": {"dump_every": 10, "phases": [
            {"name": "nvt", "ensemble": "nvt", "temperature": 800, "length": "200 fs"}]},
        "stages": ["bootstrap", "learn"]})
    done = run_lotf(config, tmp_path / "run", 300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "run"
    end = read_structures(run / "structures" / "bootstrap.extxyz")[-1]
    assert end.info["bootstrap_start"] == 0
    initial = read_structures(run / "structures" / "initial.extxyz")[0]
    first = sorted((run / "trajectories" / "nvt").glob("gen-0000-0000-walker-0.extxyz"))
    assert first, "no trajectory of the first segment"
    step0 = read(first[0], 0)

    def apart(a, b) -> float:  # the largest minimum-image displacement (LAMMPS wraps atoms)
        shift = a.get_scaled_positions(wrap=False) - b.get_scaled_positions(wrap=False)
        return float(abs((shift - shift.round()) @ a.cell.array).max())

    assert apart(step0, end) < 1e-6
    assert apart(end, initial) > 1e-3  # the oracle MD moved it
