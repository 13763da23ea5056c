"""The campaign file: every class of mistake gives exit 2 and one line naming key and YAML line."""

import os
import subprocess
import sys

import pytest
from ase.io import write

from lotf.cli import demo_config, main
from lotf.config import Phase
from lotf.schema import load_config

from conftest import cu_cells

BASE = """\
name: t
seed: 1
system:
  species: [Cu]
  structures:
    - file: cu.extxyz
oracle:
  calculator: emt
  workers: 2
  timeout: 60 s
potential:
  level: 12
  cutoff: 5.0
active_learning:
  select_threshold: 1.5
  break_threshold: 10
md:
  phases:
    - name: nvt
      ensemble: nvt
      temperature: 1000
      length: 10 ps
stages: [bootstrap]
"""

# (case, text replaced, replacement, key path named, line named, words of the message)
BAD = [
    ("unknown top-level key", "stages: [bootstrap]\n", "stages: [bootstrap]\ncolour: red\n",
     "colour", 24, "unknown key"),
    ("unknown nested key", "  timeout: 60 s\n", "  timeout: 60 s\n  wrokers: 3\n",
     "oracle.wrokers", 11, "unknown key"),
    ("wrong type", "workers: 2", "workers: two", "oracle.workers", 9, "integer"),
    ("out of range", "workers: 2", "workers: 0", "oracle.workers", 9, "greater than"),
    ("odd MTP level", "level: 12", "level: 13", "potential.level", 12, "even"),
    ("level too high", "level: 12", "level: 40", "potential.level", 12, "less than"),
    ("missing file", "file: cu.extxyz", "file: nope.extxyz", "system.structures[0].file", 6,
     "does not exist"),
    ("missing required key", "name: t\n", "", "name", 1, "required"),
    ("thresholds out of order", "break_threshold: 10", "break_threshold: 1.2", "active_learning",
     14, "must exceed"),
    ("time without unit", "length: 10 ps", "length: 10", "md.phases[0].length", 22, "unit"),
    ("unknown time unit", "length: 10 ps", "length: 10 years", "md.phases[0].length", 22,
     "unknown time unit"),
    ("unknown stage", "stages: [bootstrap]", "stages: [bootstrap, dance]", "stages[1]", 23,
     "unknown stage 'dance'"),
    ("unknown calculator", "calculator: emt", "calculator: magic", "oracle.calculator", 8,
     "unknown calculator"),
    ("calculator not installed", "calculator: emt", "calculator: 'nonexistent_pkg:Calc'",
     "oracle.calculator", 8, "not installed"),
    ("duplicate key", "  workers: 2\n", "  workers: 2\n  workers: 3\n", "oracle.workers", 10,
     "twice"),
    ("not an element", "species: [Cu]", "species: [Cu, Xq]", "system.species[1]", 4,
     "not a chemical element"),
    ("structure species not listed", "species: [Cu]", "species: [Ag]", "system", 3,
     "not in species"),
    ("npt without pressure", "ensemble: nvt", "ensemble: npt", "md.phases[0]", 19,
     "needs a pressure"),
    ("negative temperature", "temperature: 1000", "temperature: -5", "md.phases[0].temperature",
     21, "give a temperature in K"),
    ("pressure on nvt", "length: 10 ps", "length: 10 ps\n      pressure: 1 bar", "md.phases[0]",
     19, "only used by npt"),
    ("builder without a box", "- file: cu.extxyz", "- {builder: amorphous, units: {Cu: 4}}",
     "system.structures[0]", 6, "give the box"),
    ("unknown builder unit", "- file: cu.extxyz",
     "- {builder: amorphous, units: {Cu: 4, XY3: 1}, density: 8}", "system.structures[0].units",
     6, "unknown unit 'XY3'"),
    ("cutoff below min_dist", "cutoff: 5.0", "cutoff: 5.0\n  min_dist: 6.0", "potential", 11,
     "below cutoff"),
    ("native fit settings on motep", "cutoff: 5.0", "cutoff: 5.0\n  backend: motep\n"
     "  fit_ridge: 0.001", "potential", 11, "fit_ridge apply to the native backend's fit"),
    ("held-out share past half", "cutoff: 5.0", "cutoff: 5.0\n  fit_holdout: 0.8",
     "potential.fit_holdout", 14, "less than or equal to 0.5"),
]


@pytest.fixture
def config_dir(tmp_path):
    write(tmp_path / "cu.extxyz", cu_cells(1)[0])
    return tmp_path


def _validate(config_dir, text, capsys):
    path = config_dir / "c.yaml"
    path.write_text(text)
    code = main(["validate", str(path)])
    return code, capsys.readouterr(), path


def test_base_config_is_valid(config_dir, capsys):
    code, out, _ = _validate(config_dir, BASE, capsys)
    assert code == 0, out.err
    config = load_config(config_dir / "c.yaml")
    assert config.md.phases[0].length == pytest.approx(10_000.0)  # fs
    assert config.md.phases[0].timestep == 2.0  # the paper's default
    assert config.active_learning.select_threshold == 1.5
    assert config.oracle.timeout == 60.0  # s


@pytest.mark.parametrize("case,old,new,key,line,words", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_key_and_line(config_dir, capsys, case, old, new, key, line, words):
    assert old in BASE
    code, out, path = _validate(config_dir, BASE.replace(old, new, 1), capsys)
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith(f"lotf: error: {path}:{line}: {key}: "), lines[0]
    assert words in lines[0]


@pytest.mark.parametrize("text,words", [
    ("name: t\nsystem: {species: [Cu\n", "not valid YAML"),
    ("- a\n- b\n", "must be a mapping"),
])
def test_unreadable_yaml(config_dir, capsys, text, words):
    code, out, _ = _validate(config_dir, text, capsys)
    assert code == 2 and words in out.err and len(out.err.strip().splitlines()) == 1


def test_missing_config_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_no_traceback_from_the_command(config_dir):
    path = config_dir / "c.yaml"
    path.write_text(BASE.replace("level: 12", "level: 13"))
    done = subprocess.run([sys.executable, "-m", "lotf", "validate", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.count("\n") == 1


def test_demo_config_is_valid():
    config = load_config(demo_config())
    assert config.oracle.calculator == "tblite"
    assert [p.ensemble for p in config.md.phases] == ["nvt", "npt"]
    assert config.md.phases[1].converge_after is None  # so the final potential runs 20 ps too
    assert config.stages == ["bootstrap", "learn", "validate", "melt_quench", "audit",
                             "structure", "energetics", "diffusion", "calibrate"]
    assert len(config.diffusion.temperatures) >= 3  # an Arrhenius form the fit can test
    assert config.active_learning.converge_after == pytest.approx(20_000.0)  # fs: the 20 ps target


def test_auto_workers_take_the_cores_slurm_gave_the_job(monkeypatch):
    from lotf.oracle.settings import Oracle

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "16")
    assert Oracle.model_validate({"workers": "auto", "threads_per_worker": 4}).workers == 4
    assert Oracle.model_validate({"workers": "auto", "threads_per_worker": 3}).workers == 5
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    monkeypatch.delenv("SLURM_CPUS_ON_NODE", raising=False)
    assert Oracle.model_validate({"workers": "auto"}).workers == len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="with Parsl's Slurm jobs give the calls per node"):
        Oracle.model_validate({"workers": "auto", "executor": "parsl",
                               "parsl": {"provider": "slurm"}})


def test_the_barostat_reaches_every_md_run():
    from lotf.learning.learner import md_settings
    from lotf.learning.state import LearningState

    config = load_config(demo_config())
    npt = config.md.phases[1]
    progress = LearningState()
    assert md_settings(config, npt, 10, progress, 0).barostat == "aniso"  # the default
    iso = config.model_copy(update={"md": config.md.model_copy(update={"barostat": "iso"})})
    assert md_settings(iso, npt, 10, progress, 0).barostat == "iso"
    own = npt.model_copy(update={"barostat": "xy"})  # a phase's own choice wins
    assert md_settings(iso, own, 10, progress, 0).barostat == "xy"
    assert load_config(demo_config()).melt_quench.steps()[0].barostat == "iso"  # glasses: iso


def test_a_barostat_is_for_npt_phases_and_named_from_the_registry():
    with pytest.raises(ValueError, match="barostat is only used by npt phases, not nvt"):
        Phase(name="hot", ensemble="nvt", temperature=1000, length="1 ps", barostat="iso")
    with pytest.raises(ValueError, match="Input should be 'iso', 'aniso', 'tri', 'xy' or 'z'"):
        Phase(name="hot", ensemble="npt", temperature=1000, pressure="1 bar", length="1 ps",
              barostat="sideways")
