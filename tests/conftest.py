"""Shared fixtures: small Cu cells, an EMT campaign file, and the path of the test oracles."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import bulk

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # the oracle processes import `oracles` from here


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


@pytest.fixture
def env_with_tests() -> dict:
    """Environment for a `lotf` subprocess that must import the test oracles."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return env


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


def processes_naming(folder: Path) -> list[str]:
    """Command lines of other processes still running that name `folder` (a run's ranks,
    Parsl's worker pools and lotf's call processes do), once they have had a second to end."""
    import os
    import time

    time.sleep(1)
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(folder) in command and proc.name != str(os.getpid()):
            found.append(command)
    return found

