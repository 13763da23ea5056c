"""Studies: member campaigns run in order in one folder, reading earlier members' run
directories through ${study}, every run length shortened by one time scale, resumed."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lotf
from lotf.cli import main
from lotf.ledger import Ledger
from lotf.scaling import scale_times
from lotf.schema import Campaign
from lotf.status import campaign_status
from lotf.study import load_study

from conftest import emt_campaign
from oracles import count_calls

POTENTIAL = {"level": 8, "cutoff": 5.0, "fit_steps": 0,
             "weights": {"energy": 1.0, "forces": 0.3, "stress": 0.0}}


def _study(tmp_path, counter: str, joint_reads: str = "cu") -> tuple:
    """A study folder: `cu` learns (NVT written at 10 ps, converged after 20 ps), `joint`
    consolidates `${study}/<joint_reads>` into its own potential."""
    folder = tmp_path / "study"
    folder.mkdir()
    cu = yaml.safe_load(emt_campaign(folder, counter, count=4, potential=POTENTIAL).read_text())
    cu.update(name="cu", stages=["bootstrap", "learn"],
              active_learning={"max_new": 4, "converge_after": "20 ps"},
              md={"dump_every": 25, "phases": [
                  {"name": "nvt", "ensemble": "nvt", "temperature": 800, "length": "10 ps"}]})
    joint = {**cu, "name": "joint", "stages": ["consolidate"],
             "consolidate": {"campaigns": [f"${{study}}/{joint_reads}"]}}
    del joint["md"]
    (folder / "cu.yaml").write_text(yaml.safe_dump(cu, sort_keys=False))
    (folder / "joint.yaml").write_text(yaml.safe_dump(joint, sort_keys=False))
    study = folder / "study.yaml"
    study.write_text(yaml.safe_dump({"name": "mini", "campaigns": ["cu.yaml", "joint.yaml"]}))
    return study, folder


def test_a_study_runs_its_members_in_order_at_its_time_scale_and_resumes(tmp_path, capsys):
    counter = str(tmp_path / "calls.txt")
    study, _ = _study(tmp_path, counter)
    runs = tmp_path / "runs"
    assert main(["study", str(study), "--workdir", str(runs), "--scale", "0.1"]) == 0
    status = campaign_status(runs / "cu")
    assert status["converged"] is True
    assert status["converged_phases"]["nvt"] == pytest.approx(2.0)  # 20 ps x 0.1
    assert "time_scale: 0.1" in (runs / "cu" / "campaign.yaml").read_text()
    consolidation = json.loads((runs / "joint" / "results.json").read_text())["consolidation"]
    assert list(consolidation["errors"]) == [str(runs / "cu")]  # ${study}/cu, filled in
    assert len(Ledger(runs / "joint" / "ledger.db")) == len(Ledger(runs / "cu" / "ledger.db"))
    record = json.loads((runs / "study.json").read_text())
    assert (record["time_scale"], record["done"]) == (0.1, ["cu", "joint"])
    assert set(record["seconds"]) == {"cu", "joint"} and record["seconds"]["cu"] > 0
    capsys.readouterr()
    assert main(["status", str(runs)]) == 0  # a study's folder: a line per member, in order
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == ["cu", "done,"] and lines[2].split()[:2] == ["joint", "done,"]
    calls = count_calls(counter)
    assert main(["study", str(study), "--workdir", str(runs), "--scale", "0.1"]) == 0
    assert count_calls(counter) == calls  # resumed: nothing labelled again
    capsys.readouterr()
    assert main(["study", str(study), "--workdir", str(runs), "--scale", "0.2"]) == 2
    assert f"{runs} ran at time scale 0.1, not 0.2; resume with --scale 0.1" in \
        capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    ("later", "joint.yaml: ${study}/later is not an earlier campaign of the study (earlier: cu)"),
    ("joint", "joint.yaml: ${study}/joint is not an earlier campaign of the study"),
])
def test_a_member_may_read_only_earlier_members(tmp_path, capsys, change, message):
    counter = str(tmp_path / "calls.txt")
    study, _ = _study(tmp_path, counter, joint_reads=change)
    assert main(["study", str(study), "--workdir", str(tmp_path / "runs")]) == 2
    assert message in capsys.readouterr().err
    assert count_calls(counter) == 0  # found before any oracle call


def test_members_are_checked_before_the_first_one_runs(tmp_path, capsys):
    counter = str(tmp_path / "calls.txt")
    study, folder = _study(tmp_path, counter)
    data = yaml.safe_load(study.read_text())
    second = yaml.safe_load((folder / "cu.yaml").read_text())
    second.update(name="cu2", stages=["bootstrap", "learn", "melt_quench"])  # no section
    (folder / "cu2.yaml").write_text(yaml.safe_dump(second))
    study.write_text(yaml.safe_dump({**data, "campaigns": ["cu.yaml", "cu2.yaml"]}))
    assert main(["study", str(study), "--workdir", str(tmp_path / "runs")]) == 2
    assert "melt_quench" in capsys.readouterr().err
    assert count_calls(counter) == 0


def test_time_scale_shortens_run_lengths_given_or_default_and_nothing_else():
    raw = {"md": {"phases": [{"name": "a", "ensemble": "nvt", "temperature": 1000,
                              "length": "20 ps", "timestep": "2 fs"}]},
           "melt_quench": {"melt": "20 ps"},
           "bootstrap": {"method": "md", "length": "15 ps", "discard": "2 ps", "every": "10 fs"},
           "oracle": {"timeout": "10 min"}}
    scaled = scale_times(raw, Campaign, 0.01)
    assert scaled["md"]["phases"][0]["length"] == "200.0 fs"
    assert scaled["md"]["phases"][0]["timestep"] == "2 fs"  # timesteps stay
    assert scaled["melt_quench"]["melt"] == "200.0 fs"
    assert scaled["melt_quench"]["cool"] == "20000.0 fs"  # the default 2 ns, scaled too
    assert scaled["bootstrap"]["length"] == "150.0 fs" and scaled["bootstrap"]["every"] == "10 fs"
    assert scaled["active_learning"]["converge_after"] == "20000.0 fs"  # default 2 ns
    assert scaled["oracle"] == {"timeout": "10 min"}  # wall-clock limits are not MD
    assert "diffusion" not in scaled  # an absent optional section stays absent


def test_a_study_that_extends_another_merges_its_overrides_into_the_members(tmp_path):
    counter = str(tmp_path / "calls.txt")
    study, folder = _study(tmp_path, counter)
    quick = folder / "quick.yaml"
    quick.write_text(yaml.safe_dump({
        "name": "quick", "extends": "study.yaml",
        "overrides": {"all": {"active_learning": {"max_new": 2}},
                      "cu": {"md": {"phases": [{"name": "hot", "ensemble": "nvt",
                                                "temperature": 900, "length": "4 ps"}]}}}}))
    study_model, members = load_study(quick)
    assert study_model.name == "quick" and [m.name for m in members] == ["cu", "joint"]
    cu = yaml.safe_load(members[0].filled(tmp_path, 1.0))
    assert cu["active_learning"] == {"max_new": 2, "converge_after": "20 ps"}  # merged key by key
    assert [p["name"] for p in cu["md"]["phases"]] == ["hot"]  # a list is replaced whole
    joint = yaml.safe_load(members[1].filled(tmp_path, 1.0))
    assert joint["active_learning"]["max_new"] == 2 and "md" not in joint
    assert joint["consolidate"]["campaigns"] == [str(tmp_path / "cu")]  # ${study} still filled


@pytest.mark.parametrize("study, message", [
    ({"extends": "study.yaml", "overrides": {"cuu": {"seed": 1}}},
     "overrides.cuu: not a member of the study (members: cu, joint; or `all`)"),
    ({"extends": "nowhere.yaml"}, "extends: no study file"),
    ({"campaigns": ["cu.yaml"], "extends": "study.yaml"},
     "give either `campaigns` (member files) or `extends` (a study file)"),
    ({"extends": "study.yaml", "overrides": {"cu": {"name": "other"}}},
     "overrides cannot rename a member ('cu')"),
])
def test_a_bad_extension_is_refused_in_one_line_before_any_call(tmp_path, capsys, study,
                                                                message):
    counter = str(tmp_path / "calls.txt")
    _, folder = _study(tmp_path, counter)
    (folder / "bad.yaml").write_text(yaml.safe_dump({"name": "bad", **study}))
    assert main(["study", str(folder / "bad.yaml"), "--workdir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert count_calls(counter) == 0


def test_members_with_the_same_fit_share_it_and_others_do_not(tmp_path):
    """`twin` consolidates `cu` exactly as `joint` does (labels, settings, seed): its generation
    0 is joint's, copied from the study's fits; `other` (another seed) fits its own."""
    counter = str(tmp_path / "calls.txt")
    study, folder = _study(tmp_path, counter)
    joint = yaml.safe_load((folder / "joint.yaml").read_text())
    (folder / "twin.yaml").write_text(yaml.safe_dump({**joint, "name": "twin"}, sort_keys=False))
    (folder / "other.yaml").write_text(yaml.safe_dump({**joint, "name": "other", "seed": 99},
                                                      sort_keys=False))
    study.write_text(yaml.safe_dump({"name": "mini", "campaigns": [
        "cu.yaml", "joint.yaml", "twin.yaml", "other.yaml"]}))
    runs = tmp_path / "runs"
    assert main(["study", str(study), "--workdir", str(runs), "--scale", "0.1"]) == 0

    def generation_0(member: str) -> bytes:
        return (runs / member / "potentials" / "gen-0000" / "pot.mtp").read_bytes()

    def log(member: str) -> str:
        return (runs / member / "logs" / "lotf.log").read_text()

    assert generation_0("twin") == generation_0("joint")
    assert "generation 0: the same fit as" in log("twin")
    assert "the same fit as" not in log("joint") and "the same fit as" not in log("other")
    assert generation_0("other") != generation_0("joint")
    results = {m: json.loads((runs / m / "results.json").read_text())["consolidation"]
               for m in ("joint", "twin")}
    assert results["twin"]["errors"] == results["joint"]["errors"]  # one potential, one error
    assert len(list((runs / "fits").iterdir())) == len(
        [g for g in (runs / "cu" / "potentials").iterdir()]) + 2  # cu's, joint's, other's


def test_the_fit_caches_key_changes_with_the_fitting_code(tmp_path):
    """A study folder reused after a change to the fit's code must not copy the old fit, though
    lotf's version stays: the key hashes lotf.potential's files and the training module."""

    def code_hash(root: Path) -> str:
        done = subprocess.run([sys.executable, "-c", "from lotf.learning.fit_cache import "
                               "fit_code; print(fit_code())"], cwd=root, capture_output=True,
                              text=True, check=True, env={"PYTHONPATH": str(root)})
        return done.stdout.strip()

    copies = {}
    for name in ("same", "potential", "training", "elsewhere"):
        copies[name] = tmp_path / name
        shutil.copytree(Path(lotf.__file__).parent, copies[name] / "lotf",
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name, file in (("potential", "potential/schedule.py"),
                       ("training", "learning/training.py"), ("elsewhere", "status.py")):
        with open(copies[name] / "lotf" / file, "a") as handle:
            handle.write("\n# changed\n")
    hashes = {name: code_hash(root) for name, root in copies.items()}
    assert hashes["same"] == code_hash(Path(lotf.__file__).parents[1])
    assert hashes["potential"] != hashes["same"] and hashes["training"] != hashes["same"]
    assert hashes["elsewhere"] == hashes["same"]  # code the fit does not run: the same fits
