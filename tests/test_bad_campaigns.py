"""A corpus of malformed campaigns, made like the audit's: each is refused by `lotf validate`
and by `lotf run` with exit 2 and one line, before any structure is built or oracle called."""

import copy
import shutil
import subprocess
import sys

import pytest
import yaml

from lotf.cli import main

from oracles import count_calls

FULL = {
    "name": "lps",
    "seed": 1,
    "system": {"species": ["Li", "P", "S"], "structures": [
        {"builder": "amorphous", "units": {"PS4": 1, "Li": 3}, "density": 1.8}]},
    "oracle": {"calculator": "oracles:CountingEMT", "params": {"counter": "COUNTER"},
               "workers": 1, "timeout": "60 s"},
    "potential": {"level": 8, "cutoff": 5.0},
    "bootstrap": {"method": "rattle", "count": 20, "rattle": 0.05, "strain": 0.02},
    "active_learning": {"converge_after": "1 ps"},
    "md": {"dump_every": 10, "phases": [
        {"name": "nvt", "ensemble": "nvt", "temperature": 1000, "length": "1 ps"}]},
    "melt_quench": {"melt": "1 ps", "cool": "1 ps", "equilibrate": "1 ps", "production": "1 ps",
                    "chunk": "1 ps"},
    "structure": {"coordination": ["P-S"], "units": ["PS4"],
                  "valences": {"Li": 1, "P": 5, "S": -2}},
    "energetics": {"formula": "Li3PS4"},
    "diffusion": {"species": "Li", "temperatures": [1000, 800], "production": "1 ps"},
    "stages": ["bootstrap", "learn", "validate", "melt_quench", "structure", "energetics",
               "diffusion"],
}


def _set(path: str, value):
    """A mutation that sets (or, with value DELETE, removes) one key path."""
    def mutate(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


DELETE = object()
STRUCTURE = "system.structures.0"
PHASE = "md.phases.0"

# (case, mutation, words the one line must contain)
MUTATIONS = [
    # stages and their sections
    ("diffusion stage without section", _set("diffusion", DELETE), "needs a `diffusion:` section"),
    ("melt_quench stage without section", _set("melt_quench", DELETE),
     "needs a `melt_quench:` section"),
    ("consolidate stage without section", _set("stages", ["bootstrap", "consolidate"]),
     "needs a `consolidate:` section"),
    ("structure without melt_quench", _set("stages", ["bootstrap", "learn", "structure"]),
     "needs melt_quench before it"),
    ("energetics without melt_quench", _set("stages", ["bootstrap", "energetics"]),
     "needs melt_quench before it"),
    ("validate without learn", _set("stages", ["bootstrap", "validate"]), "needs learn before it"),
    ("learn without labels", _set("stages", ["learn"]), "needs bootstrap or consolidate"),
    ("stages out of order", _set("stages", ["learn", "bootstrap"]), "needs bootstrap"),
    ("stage twice", _set("stages", ["bootstrap", "bootstrap"]), "listed twice"),
    ("unknown stage", _set("stages", ["bootstrap", "dance"]), "unknown stage"),
    ("no stages", _set("stages", []), "at least 1"),
    ("learn without phases", _set("md.phases", []), "needs at least one MD phase"),
    ("dump_every 0 with analyses", _set("md.dump_every", 0), "dump_every must be above 0"),
    # species named by analyses
    ("diffusing species absent", _set("diffusion.species", "Na"), "Na, not in system.species"),
    ("diffusing species not an element", _set("diffusion.species", "Qq"), "not a chemical element"),
    ("coordination pair absent", _set("structure.coordination", ["P-O"]), "O, not in system"),
    ("bond cutoff pair absent", _set("structure.bond_cutoffs", {"B-O": 1.6}), "not in system"),
    ("unit of absent species", _set("structure.units", ["BO3"]), "not in system.species"),
    ("unknown unit", _set("structure.units", ["XY9"]), "unknown unit"),
    ("valence of absent species", _set("structure.valences", {"Li": 1, "P": 5, "S": -2, "O": -2}),
     "O, not in system"),
    ("valences incomplete", _set("structure.valences", {"Li": 1, "P": 5}), "missing S"),
    ("interface anion absent", _set("diffusion.interface", {"anions": {"S": 3.0, "O": 2.6}}),
     "O, not in system"),
    # formulae
    ("formula not a formula", _set("energetics.formula", "Xy2"), "not a chemical formula"),
    ("formula lowercase", _set("energetics.formula", "li3ps4"), "not a chemical formula"),
    ("formula of other species", _set("energetics.formula", "Li2O"), "O, not in system"),
    ("formula the box is not made of", _set("energetics.formula", "Li2PS4"), "whole Li2PS4"),
    # the first potential's active set needs a neighbourhood per parameter (156 here): found
    # before the audit's 4 paid GPAW calls and then a traceback
    ("bootstrap too small", _set("bootstrap.count", 4), "raise bootstrap.count to at least 20"),
    ("oracle MD too short", _set("bootstrap", {"method": "md", "length": "20 fs",
                                               "every": "10 fs"}), "has 156 parameters"),
    ("too few per configuration", _set("active_learning.grade_mode", "configuration"),
     "20 configurations"),
    ("structure species not listed", _set("system.species", ["Li", "P"]), "not in species"),
    ("species twice", _set("system.species", ["Li", "P", "S", "S"]), "listed twice"),
    ("no species", _set("system.species", []), "at least 1"),
    ("no structures", _set("system.structures", []), "at least 1"),
    # sizes and counts, with the bound named
    ("bootstrap count 1e9", _set("bootstrap.count", 1e9), "less than or equal to 100000"),
    ("rattle 5 Å", _set("bootstrap.rattle", 5.0), "less than or equal to 1"),
    ("cutoff 1e6 Å", _set("potential.cutoff", 1e6), "less than or equal to 15"),
    ("strain 0.9", _set("bootstrap.strain", 0.9), "less than 0.5"),
    ("level 40", _set("potential.level", 40), "less than or equal to 20"),
    ("odd level", _set("potential.level", 9), "even"),
    ("radial basis 1000", _set("potential.radial_basis_size", 1000), "less than or equal to 64"),
    ("workers 1e6", _set("oracle.workers", 1000000), "less than or equal to 4096"),
    ("workers 0", _set("oracle.workers", 0), "greater than 0"),
    ("max_attempts 0", _set("oracle.max_attempts", 0), "greater than 0"),
    ("timeout in years", _set("oracle.timeout", "3 years"), "unknown time unit"),
    ("walkers 1e5", _set("active_learning.walkers", 100000), "less than or equal to 1024"),
    ("max_new 0", _set("active_learning.max_new", 0), "greater than 0"),
    ("thresholds swapped", _set("active_learning.break_threshold", 1.2), "must exceed"),
    ("select below 1", _set("active_learning.select_threshold", 0.5), "greater than or equal to 1"),
    ("converge_after 1 s", _set("active_learning.converge_after", "1 s"), "less than or equal"),
    ("timestep 50 fs", _set(f"{PHASE}.timestep", "50 fs"), "less than or equal to 10"),
    ("timestep 0", _set(f"{PHASE}.timestep", "0 fs"), "greater than"),
    ("temperature 1e6 K", _set(f"{PHASE}.temperature", 1e6), "above 20000 K"),
    ("temperature negative", _set(f"{PHASE}.temperature", -3), "give a temperature in K"),
    ("ramp of three", _set(f"{PHASE}.temperature", [1, 2, 3]), "give a temperature in K"),
    ("length without unit", _set(f"{PHASE}.length", 10), "unit"),
    ("length below timestep", _set(f"{PHASE}.length", "1 fs"), "longer than one timestep"),
    ("npt without pressure", _set(f"{PHASE}.ensemble", "npt"), "needs a pressure"),
    ("unknown ensemble", _set(f"{PHASE}.ensemble", "nph"), "nvt"),
    ("phase names twice", _set("md.phases", [{"name": "a", "ensemble": "nvt", "temperature": 300,
                                              "length": "1 ps"}] * 2), "unique"),
    ("bad phase name", _set(f"{PHASE}.name", "my phase!"), "pattern"),
    ("ranks with fix external", _set("md.ranks", 2) , None),  # completed below
    ("dump_every negative", _set("md.dump_every", -1), "greater than or equal to 0"),
    ("convergence check without frames",
     lambda c: c.update(stages=["bootstrap", "learn"], md={**c["md"], "dump_every": 0},
                        active_learning={**c["active_learning"], "check": {"frames": 8}}),
     "active_learning.check relabels frames of the converged MD: set md.dump_every above 0"),
    ("validation frames 0", _set("validation", {"frames": 0}), "greater than 0"),
    ("diffusion one temperature", _set("diffusion.temperatures", [1000]), "at least 2"),
    ("diffusion 5000 temperatures", _set("diffusion.temperatures", list(range(5000, 0, -1))),
     "at most 1000"),
    ("density 1000 g/cm3", _set(f"{STRUCTURE}.density", 1000), "less than or equal to 30"),
    ("a billion atoms", _set(f"{STRUCTURE}.units", {"PS4": 1, "Li": 10**9}), "1000000"),
    ("unknown builder", _set(f"{STRUCTURE}.builder", "crystal"), "unknown builder"),
    ("supercell 1000", _set(f"{STRUCTURE}.supercell", [1000, 1, 1]), "less than or equal to 100"),
    ("replicas 1e6", _set(f"{STRUCTURE}.replicas", 10**6), "less than or equal to 1000"),
    ("missing structure file", _set("system.structures", [{"file": "nope.extxyz"}]),
     "does not exist"),
    ("unknown calculator", _set("oracle.calculator", "magic"), "unknown calculator"),
    ("calculator class missing", _set("oracle.calculator", "oracles:NoSuchEMT"),
     "has no 'NoSuchEMT'"),
    ("calculator module missing", _set("oracle.calculator", "no_such_pkg:Calc"), "not installed"),
    ("unknown key", _set("colour", "red"), "unknown key 'colour'"),
    ("name missing", _set("name", DELETE), "required"),
    ("wrong type", _set("seed", "seven"), "integer"),
    ("unknown bootstrap method", _set("bootstrap.method", "dream"), "unknown method"),
]
MUTATIONS[MUTATIONS.index(next(m for m in MUTATIONS if m[0] == "ranks with fix external"))] = (
    "ranks with fix external",
    lambda c: c["md"].update(ranks=2, coupling="fix_external"), "needs coupling: pair_style")

# (case, file content as bytes, words)
RAW = [
    ("binary file", b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary file"),
    ("not UTF-8", "name: caf\u00e9\n".encode("latin-1"), "not UTF-8"),
    ("alias bomb", b"a: &a [x, x, x, x, x, x, x, x, x]\n"
     + b"".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n".encode()
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)), "alias bomb"),
    ("not YAML", b"name: t\nsystem: {species: [Cu\n", "not valid YAML"),
    ("a list", b"- a\n- b\n", "must be a mapping"),
    ("empty", b"", "must be a mapping"),
    ("tab indentation", b"name: t\nsystem:\n\tspecies: [Cu]\n", "not valid YAML"),
    ("key twice", b"name: a\nname: b\n", "key given twice"),
]


def _write(tmp_path, config) -> tuple:
    counter = tmp_path / "calls.txt"
    text = yaml.safe_dump(config, sort_keys=False).replace("COUNTER", str(counter))
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    return path, counter


def _refused(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_the_full_campaign_is_valid(tmp_path, capsys):
    path, _ = _write(tmp_path, FULL)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("case,mutate,words", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_malformed_campaign_is_refused_before_any_call(tmp_path, capsys, case, mutate, words):
    config = copy.deepcopy(FULL)
    mutate(config)
    path, counter = _write(tmp_path, config)
    line = _refused(capsys, ["validate", str(path)])
    assert line.startswith(f"lotf: error: {path}:") and words in line, line
    assert _refused(capsys, ["run", str(path), "--workdir", str(tmp_path / "run")]) == line
    assert count_calls(counter) == 0 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("case,content,words", RAW, ids=[r[0] for r in RAW])
def test_an_unreadable_campaign_file_is_refused_in_one_line(tmp_path, capsys, case, content,
                                                            words):
    path = tmp_path / "campaign.yaml"
    path.write_bytes(content)
    line = _refused(capsys, ["validate", str(path)])
    assert words in line, line


def test_a_folder_given_as_the_campaign(tmp_path, capsys):
    assert "is a folder, not a campaign file" in _refused(capsys, ["validate", str(tmp_path)])
    assert "is a folder but not a lotf run directory" in _refused(capsys, ["run", str(tmp_path)])


def _in_mount_namespace(tmp_path, env, workdir, mount: str, campaign: dict):
    """`lotf run` on `workdir` after `mount` inside a private mount namespace (as root of it)."""
    path, counter = _write(tmp_path, campaign)
    workdir.mkdir()
    script = f"{mount} && {sys.executable} -m lotf run {path} --workdir {workdir}"
    done = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script],
                          env=env, capture_output=True, text=True)
    if "mount:" in done.stderr or "unshare:" in done.stderr:
        pytest.skip(f"cannot mount in a namespace here: {done.stderr.strip()}")
    return done, counter


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare")
def test_a_read_only_run_directory_is_named_as_such(tmp_path, env_with_tests):
    """Root ignores file modes, so the folder is made read-only by a read-only bind mount."""
    workdir = tmp_path / "ro"
    done, counter = _in_mount_namespace(
        tmp_path, env_with_tests, workdir,
        f"mount --bind {workdir} {workdir} && mount -o remount,bind,ro {workdir}",
        {**FULL, "stages": ["bootstrap"]})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "read-only" in lines[0] and str(workdir) in lines[0], lines
    assert count_calls(counter) == 0


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare")
@pytest.mark.parametrize("size", ["200k", "300k", "400k"])
def test_a_full_disk_is_named_as_such(tmp_path, env_with_tests, size):
    """A small file system fills while the bootstrap labels (in whichever file the size makes
    it: the structures, the ledger, a call's folder, the log): one line, exit 2."""
    workdir = tmp_path / "small"
    done, _ = _in_mount_namespace(
        tmp_path, env_with_tests, workdir, f"mount -t tmpfs -o size={size} tmpfs {workdir}",
        {**FULL, "oracle": {**FULL["oracle"], "calculator": "emt"},
         "system": {"species": ["Cu"], "structures": [
             {"builder": "amorphous", "units": {"Cu": 32}, "density": 5.0}]},
         "bootstrap": {"method": "rattle", "count": 60}, "stages": ["bootstrap"],
         "structure": {}, "energetics": {}, "diffusion": None})
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert "the disk is full" in lines[-1] and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"cannot write {workdir}" in lines[-1] or "cannot write the ledger" in lines[-1]


def test_a_crystal_of_other_species_is_refused_before_any_call(tmp_path, capsys):
    """The amorphization energy's crystal must be of the potential's species: found when the
    campaign is read, not after the glass was made."""
    from ase.build import bulk
    from ase.io import write

    write(tmp_path / "oxide.cif", bulk("MgO", "rocksalt", a=4.2))
    config = copy.deepcopy(FULL)
    config["energetics"]["crystal"] = {"file": "oxide.cif"}
    path, counter = _write(tmp_path, config)
    line = _refused(capsys, ["run", str(path), "--workdir", str(tmp_path / "run")])
    assert "energetics.crystal" in line and "'oxide.cif' has Mg, O, not in system.species" in line
    assert count_calls(counter) == 0 and not (tmp_path / "run").exists()
