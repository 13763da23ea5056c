"""Shared fixtures: small Cu cells, an EMT campaign file, and the path of the test oracles."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import bulk

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # the oracle processes import `oracles` from here


def cu_ag_frames(count: int, seed: int, strain: float = 0.0) -> list:
    """32-atom fcc Cu cells with 10 random Ag, rattled by 0.1 Å (and strained by up to `strain`),
    labelled by ASE's EMT (energy, forces, stress)."""
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(count):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
        atoms.numbers[rng.choice(32, 10, replace=False)] = 47
        atoms.rattle(0.1, seed=k)
        if strain:
            atoms.set_cell(atoms.cell * rng.uniform(1 - strain, 1 + strain), scale_atoms=True)
        atoms.calc = EMT()
        atoms.get_stress()
        frames.append(atoms)
    return frames


def cu_cells(n: int, seed: int = 0):
    """`n` distinct rattled 2x2x2 fcc Cu cells (32 atoms)."""
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        cells.append(atoms)
    return cells


def emt_labelled(structures) -> list:
    """Copies of the structures carrying EMT energy, forces and stress (the truth in tests)."""
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = EMT()
        labels = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
                  "stress": atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **labels)
        out.append(atoms)
    return out


@pytest.fixture
def counter(tmp_path) -> str:
    return str(tmp_path / "calls.txt")


def _tests_environment() -> dict:
    """This process's environment with the tests folder on PYTHONPATH (for the test oracles)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def env_with_tests() -> dict:
    """Environment for a `lotf` subprocess that must import the test oracles."""
    return _tests_environment()


def emt_campaign(tmp_path: Path, counter: str, *, delay: float = 0.0, count: int = 6,
                 workers: int = 2, **extra) -> Path:
    """Write a small EMT campaign (a Cu cell file, rattle bootstrap) and return its path."""
    from ase.io import write

    write(tmp_path / "cu.extxyz", cu_cells(1)[0])
    config = {
        "name": "cu-test",
        "seed": 3,
        "system": {"species": ["Cu"], "structures": [{"file": "cu.extxyz"}]},
        "oracle": {"calculator": "oracles:CountingEMT",
                   "params": {"counter": counter, "delay": delay},
                   "workers": workers, "timeout": "60 s", "max_attempts": 2},
        "bootstrap": {"method": "rattle", "count": count, "rattle": 0.05, "strain": 0.02},
        "stages": ["bootstrap"],
        **extra,
    }
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_lotf(config: Path, workdir: Path, timeout: float = 600, **variables: str | None
             ) -> subprocess.CompletedProcess:
    """`lotf run CONFIG --workdir WORKDIR` as a subprocess that imports the test oracles, on one
    thread (BLAS and OpenMP), with extra environment variables such as LOTF_KILL_AT (None: unset)."""
    env = {**_tests_environment(), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.update({name: value for name, value in variables.items() if value is not None})
    return subprocess.run([sys.executable, "-m", "lotf", "run", str(config), "--workdir",
                           str(workdir)], env=env, capture_output=True, text=True, timeout=timeout)


def md_rounds(log: str) -> list[list[str]]:
    """The learning log's MD rounds: the walkers each round started, in order."""
    found, current = [], []
    for line in log.splitlines():
        if "MD segment" in line:
            current.append(line.split(" of walker ")[1].split(",")[0])
        elif current and "velocity seed" not in line:
            found.append(current)
            current = []
    return found


def run_job(command: list, timeout: float, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    """subprocess.run for an MPI launch: on timeout the whole session is killed (mpiexec's
    ranks too, which would otherwise spin on as orphans), then TimeoutExpired is raised."""
    import signal

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, env=env)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def processes_naming(folder: Path, settle: float = 10.0) -> list[str]:
    """Command lines of other processes still running that name `folder` (a run's ranks,
    Parsl's worker pools and lotf's call processes do), once they have had up to `settle`
    seconds to end (a Parsl worker's call process is killed as its pool shuts down)."""
    import time

    deadline = time.monotonic() + settle
    while True:
        time.sleep(0.5)
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(folder) in command and proc.name != str(os.getpid()):
                found.append(command)
        if not found or time.monotonic() > deadline:
            return found

