"""Real DFT codes through the campaign's labelling path: GPAW (pip, built against this
environment's MPI) and CP2K (Debian) on an 8-atom Li3PS4 cell, on 1 and 2 ranks; VASP's input
writing and output reading on files a real VASP run produced (ASE's test data).

Without the codes these tests skip, unless LOTF_REAL_CODES=1 (CI sets it): then they fail.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from lotf.errors import UserError
from lotf.labelling import label
from lotf.ledger import OK, QUARANTINED, Ledger, content_key
from lotf.oracle import fingerprint
from lotf.oracle.preflight import preflight
from lotf.oracle.settings import Oracle

SPECIES = ["Li", "P", "S"]
OPEN_MPI = "mpirun --allow-run-as-root -n {ranks}"  # Debian's CP2K and QE are Open MPI's
SMALL_GPAW = {"mode": {"name": "pw", "ecut": 300.0}}


def needs(what: str) -> None:
    """Skip without `what` (a module or a program), or fail if CI promised the real codes."""
    present = shutil.which(what) is not None or (
        what.isidentifier() and importlib.util.find_spec(what) is not None)
    if not present:
        if os.environ.get("LOTF_REAL_CODES") == "1":
            pytest.fail(f"LOTF_REAL_CODES=1 but {what} is not installed")
        pytest.skip(f"{what} is not installed")


def li3ps4() -> Atoms:
    """A PS4 tetrahedron and 3 Li in a 6 Å cube, slightly rattled (8 atoms)."""
    tetrahedron = 2.05 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    centre = np.full(3, 3.0)
    positions = [centre, *(centre + tetrahedron), [0.3, 0.4, 0.2], [0.2, 3.1, 4.6], [4.7, 0.3, 3.3]]
    atoms = Atoms("PS4Li3", positions=positions, cell=[6.0, 6.0, 6.0], pbc=True)
    atoms.positions += np.random.default_rng(4).normal(0, 0.03, (8, 3))
    return atoms


def label_once(tmp_path: Path, name: str, atoms: Atoms | None = None,
               **oracle) -> tuple[Ledger, str, object]:
    """Label the cell (default li3ps4()) through lotf.labelling in a ledger of its own;
    (ledger, key, entry)."""
    atoms = li3ps4() if atoms is None else atoms
    settings = Oracle.model_validate({"workers": 1, "max_attempts": 1, **oracle})
    ledger = Ledger(tmp_path / f"{name}.db")
    label([atoms], ledger, settings, tmp_path / f"{name}-calls", "test")
    key = content_key(atoms, fingerprint(settings.calculator, settings.params))
    return ledger, key, ledger.get(key)


def survivors(folder: Path, wait: float = 10.0) -> list[int]:
    """Live processes whose working directory or command line is inside `folder`, once those
    killed have had `wait` seconds to die (a SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                cwd = os.readlink(proc / "cwd")
                command = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if state != "Z" and (cwd.startswith(str(folder)) or str(folder) in command):
                found.append(int(proc.name))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def gpaw_setups(monkeypatch):
    needs("gpaw")
    if Path("/usr/share/gpaw-setups").is_dir():
        monkeypatch.setenv("GPAW_SETUP_PATH", "/usr/share/gpaw-setups")


def test_gpaw_gives_one_label_on_one_and_two_ranks(tmp_path, gpaw_setups):
    one, key_one, entry_one = label_once(tmp_path, "one", calculator="gpaw", params=SMALL_GPAW)
    two, key_two, entry_two = label_once(tmp_path, "two", calculator="gpaw", params=SMALL_GPAW,
                                         ranks=2)
    assert key_one == key_two  # the rank count is not part of the level of theory
    assert entry_one.status == entry_two.status == OK, (entry_one.error, entry_two.error)
    first, second = entry_one.atoms, entry_two.atoms
    assert abs(first.get_potential_energy() - second.get_potential_energy()) < 1e-6
    assert abs(first.get_forces() - second.get_forces()).max() < 1e-4
    assert abs(first.get_stress() - second.get_stress()).max() < 1e-6
    assert np.isfinite(first.get_stress()).all() and abs(first.get_forces()).max() > 0.01


def test_gpaw_unconverged_scf_is_a_failed_call_never_trained_on(tmp_path, gpaw_setups):
    ledger, key, entry = label_once(tmp_path, "short", calculator="gpaw",
                                    params={**SMALL_GPAW, "maxiter": 3})
    assert entry.status == QUARANTINED
    assert "KohnShamConvergenceError" in entry.error
    assert ledger.labelled() == []


def test_gpaw_timeout_kills_every_rank(tmp_path, gpaw_setups):
    ledger, key, entry = label_once(tmp_path, "slow", calculator="gpaw", ranks=2, timeout="3 s",
                                    params={"mode": {"name": "pw", "ecut": 800.0}})
    assert entry.status == QUARANTINED and "timed out" in entry.error
    assert survivors(tmp_path) == []


@pytest.fixture
def cp2k():
    needs("cp2k_shell.psmp")
    needs("mpirun")


def test_cp2k_gives_one_label_on_one_and_two_ranks(tmp_path, cp2k):
    one, key_one, entry_one = label_once(tmp_path, "one", calculator="cp2k")
    two, key_two, entry_two = label_once(tmp_path, "two", calculator="cp2k", ranks=2,
                                         launcher=OPEN_MPI)
    assert key_one == key_two
    assert entry_one.status == entry_two.status == OK, (entry_one.error, entry_two.error)
    first, second = entry_one.atoms, entry_two.atoms
    assert abs(first.get_potential_energy() - second.get_potential_energy()) < 1e-5
    assert abs(first.get_forces() - second.get_forces()).max() < 1e-3
    assert abs(first.get_forces()).max() > 0.01


def test_cp2k_unconverged_scf_is_a_failed_call_never_trained_on(tmp_path, cp2k):
    ledger, key, entry = label_once(tmp_path, "short", calculator="cp2k",
                                    params={"max_scf": 3})
    assert entry.status == QUARANTINED
    assert "SCF run NOT converged" in entry.error and "max_scf=3" in entry.error
    assert ledger.labelled() == []


def test_cp2k_timeout_kills_every_rank(tmp_path, cp2k):
    ledger, key, entry = label_once(tmp_path, "slow", calculator="cp2k", ranks=2, timeout="2 s",
                                    launcher=OPEN_MPI, params={"cutoff": 2000.0})
    assert entry.status == QUARANTINED and "timed out" in entry.error
    assert survivors(tmp_path) == []


QE_PSEUDO = Path("/usr/share/espresso/pseudo")  # Debian's: no P or S, so a Li-B-O cell
QE_PARAMS = {"pseudo_dir": str(QE_PSEUDO),
             "pseudopotentials": {"Li": "Li.pbesol-s-kjpaw_psl.0.2.1.UPF",
                                  "B": "B.pbe-n-kjpaw_psl.1.0.0.UPF", "O": "O.pbe-kjpaw.UPF"},
             "input_data": {"system": {"ecutwfc": 25, "ecutrho": 200, "input_dft": "pbe"}}}


def libo2() -> Atoms:
    """LiBO2 in a 4.5 Å cube: one BO2 unit and a Li (4 atoms)."""
    return Atoms("LiBO2", positions=[[0.5, 0.5, 0.5], [2.6, 2.4, 2.5], [3.9, 2.5, 2.6],
                                     [1.4, 2.6, 2.4]], cell=[4.5, 4.5, 4.5], pbc=True)


@pytest.fixture
def espresso():
    needs("pw.x")
    needs("mpirun")
    if not (QE_PSEUDO / QE_PARAMS["pseudopotentials"]["B"]).is_file():
        pytest.skip("Debian's QE pseudopotentials are not installed")


def test_espresso_gives_one_label_on_one_and_two_ranks(tmp_path, espresso):
    one, key_one, entry_one = label_once(tmp_path, "one", libo2(), calculator="espresso",
                                         params=QE_PARAMS)
    two, key_two, entry_two = label_once(tmp_path, "two", libo2(), calculator="espresso",
                                         params=QE_PARAMS, ranks=2, launcher=OPEN_MPI)
    assert key_one == key_two
    assert entry_one.status == entry_two.status == OK, (entry_one.error, entry_two.error)
    first, second = entry_one.atoms, entry_two.atoms
    assert abs(first.get_potential_energy() - second.get_potential_energy()) < 1e-4
    assert abs(first.get_forces() - second.get_forces()).max() < 5e-3
    assert abs(first.get_stress()).max() > 0  # tstress is on


def test_espresso_unconverged_scf_is_a_failed_call(tmp_path, espresso):
    params = {**QE_PARAMS, "input_data": {**QE_PARAMS["input_data"],
                                          "electrons": {"electron_maxstep": 2}}}
    ledger, key, entry = label_once(tmp_path, "short", libo2(), calculator="espresso",
                                    params=params)
    assert entry.status == QUARANTINED
    assert "did not converge within electron_maxstep=2" in entry.error
    assert ledger.labelled() == []


ASE_VASP_DATA = Path(importlib.util.find_spec("ase").origin).parent / "test/testdata/vasp"


def potcars(root: Path, species: list[str]) -> Path:
    """A VASP_PP_PATH with a POTCAR header for each species (ASE only copies them)."""
    for symbol in species:
        folder = root / "potpaw_PBE" / symbol
        folder.mkdir(parents=True)
        (folder / "POTCAR").write_text(f"  PAW_PBE {symbol} 06Sep2000\n")
    return root


def test_vasp_input_has_the_paper_level_of_theory(tmp_path, monkeypatch):
    from lotf.oracle import make_calculator

    monkeypatch.setenv("VASP_PP_PATH", str(potcars(tmp_path / "pp", SPECIES)))
    calc = make_calculator("vasp", {}, ranks=4)
    calc.directory = str(tmp_path / "call")
    (tmp_path / "call").mkdir()
    calc.write_input(li3ps4())
    incar = dict(line.split(" = ") for line in
                 (tmp_path / "call/INCAR").read_text().upper().splitlines() if " = " in line)
    assert {k: v.strip() for k, v in incar.items() if k.strip() in
            {"ENCUT", "GGA", "ISMEAR", "SIGMA", "EDIFF", "ISPIN", "LWAVE", "LREAL"}} == {
        "ENCUT": "400.000000", "GGA": "PE", "ISMEAR": "0", "SIGMA": "0.050000",
        "EDIFF": "1.00E-06", "ISPIN": "1", "LWAVE": ".FALSE.", "LREAL": ".FALSE."}
    assert "gamma" in (tmp_path / "call/KPOINTS").read_text().lower()
    assert calc.command == "mpirun -n 4 vasp_std"


@pytest.mark.parametrize("finished, reason", [
    ("aborting loop because EDIFF is reached", None),
    ("aborting loop EDIFF was not reached (unconverged)", "did not reach EDIFF"),
])
def test_vasp_output_of_a_real_run_is_checked_for_convergence(tmp_path, finished, reason):
    """ASE's OUTCAR of a real VASP 5.3.3 run (18 Ni atoms); VASP 6's wording for a loop that
    ran out of NELM steps put in its place for the unconverged case."""
    from lotf.oracle import make_calculator
    from lotf.oracle.calculators import resolve

    text = (ASE_VASP_DATA / "OUTCAR_example_1").read_text()
    assert "aborting loop because EDIFF is reached" in text
    (tmp_path / "OUTCAR").write_text(text.replace("aborting loop because EDIFF is reached",
                                                  finished))
    calc = make_calculator("vasp", {"command": "unused"})
    calc.directory = str(tmp_path)
    calc.read_incar = None
    calc.converged = calc.read_convergence(lines=(tmp_path / "OUTCAR").read_text().splitlines())
    found = resolve("vasp").unconverged(calc, tmp_path)
    assert (found is None) if reason is None else reason in found


def test_vasp_preflight_names_what_is_missing(tmp_path, monkeypatch):
    oracle = Oracle(calculator="vasp")
    for variable in ("VASP_PP_PATH", "ASE_VASP_COMMAND", "VASP_COMMAND", "VASP_SCRIPT"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(UserError, match="set VASP_PP_PATH"):
        preflight(oracle, SPECIES)
    monkeypatch.setenv("VASP_PP_PATH", str(potcars(tmp_path / "pp", ["Li", "P"])))
    with pytest.raises(UserError, match="no POTCAR for S"):
        preflight(oracle, SPECIES)
    monkeypatch.setenv("VASP_PP_PATH", str(potcars(tmp_path / "full", SPECIES)))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="program 'vasp_std' is not on PATH"):
        preflight(oracle, SPECIES)


def test_espresso_preflight_asks_for_pseudopotentials_and_forces(tmp_path):
    from lotf.oracle import parameters

    settings = parameters("espresso", {"input_data": {"system": {"ecutwfc": 40}}})
    assert settings["input_data"]["control"] == {"tprnfor": True, "tstress": True}
    assert settings["input_data"]["system"]["ecutwfc"] == 40
    with pytest.raises(UserError, match="must name a pseudopotential file for Li, P, S"):
        preflight(Oracle(calculator="espresso", params={"pseudo_dir": str(tmp_path)}), SPECIES)
    files = {s: f"{s}.UPF" for s in SPECIES}
    (tmp_path / "Li.UPF").write_text("")
    with pytest.raises(UserError, match=r"P\.UPF, S\.UPF are not in"):
        preflight(Oracle(calculator="espresso", params={"pseudo_dir": str(tmp_path),
                                                        "pseudopotentials": files}), SPECIES)


def test_a_launcher_of_another_mpi_is_refused_before_any_call(tmp_path, gpaw_setups):
    needs("/usr/bin/mpirun")
    oracle = Oracle(calculator="gpaw", ranks=2,
                    launcher="/usr/bin/mpirun --allow-run-as-root -n {ranks}")
    with pytest.raises(UserError, match="did not give gpaw.mpi one MPI world of 2 ranks"):
        preflight(oracle, SPECIES)
    preflight(Oracle(calculator="gpaw", ranks=2), SPECIES)  # this environment's mpiexec works


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_campaign_that_cannot_reach_its_oracle_stops_before_any_call(tmp_path, command):
    config = tmp_path / "vasp.yaml"
    config.write_text(
        "name: lps\nsystem:\n  species: [Li, P, S]\n  structures:\n"
        "    - {builder: amorphous, units: {PS4: 4, Li: 12}, density: 1.8}\n"
        "oracle: {calculator: vasp}\nstages: [bootstrap]\n")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("VASP", "ASE_VASP"))}
    done = subprocess.run([sys.executable, "-m", "lotf", command, str(config),
                           *(["--workdir", str(tmp_path / "run")] if command == "run" else [])],
                          capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "lotf: error: oracle.calculator 'vasp': VASP needs its PAW potentials: set VASP_PP_PATH "
        "to the folder that holds potpaw_PBE/ (it is unset)"]
    assert not (tmp_path / "run" / "oracle").exists()


def test_cp2k_preflight_finds_a_missing_program_or_basis(cp2k):
    preflight(Oracle(calculator="cp2k"), SPECIES)  # Debian's CP2K has DZVP-MOLOPT-SR-GTH for all
    with pytest.raises(UserError, match="has no TZV2PX-MOLOPT-GTH basis for Li"):
        preflight(Oracle(calculator="cp2k", params={"basis_set": "TZV2PX-MOLOPT-GTH"}), SPECIES)
    with pytest.raises(UserError, match="program 'cp2k_nowhere' is not on PATH"):
        preflight(Oracle(calculator="cp2k", params={"command": "mpirun -n 2 cp2k_nowhere"}),
                  SPECIES)
