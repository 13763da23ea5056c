"""Wall time to convergence with a slow oracle: labelling in turn against exploring meanwhile.

The same EMT copper campaign (three walkers at 1000 K, rattle bootstrap, max_new 4) is run to
convergence twice with `lotf run`, with an oracle that sleeps DELAY seconds per call on 2
workers: `active_learning.asynchronous: false` (MD waits for every label) and `true` (the
walkers that have not broken explore on while a selection is labelled). Prints JSON: wall
seconds, oracle calls and generations of each, their ratios, and the share b of the synchronous
run's wall time in which the oracle's workers were busy. That share bounds what overlapping MD
with labelling can save: the synchronous run takes labelling L plus the rest R (MD, fits), an
overlapped one at least max(L, R) for the same work, so the wall ratio is at most
1 / max(b, 1 - b) — never above 2, reached only when labelling and the rest take equal time.
Run alone: it needs both cores.
Usage: python benchmarks/async_labelling.py [DELAY] [REPEAT]   (REPEAT: fcc cells per edge)
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from lotf.ledger import Ledger


class SlowEMT(EMT):
    """EMT that takes `delay` seconds per call, as a DFT code would take minutes."""

    def __init__(self, delay: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        time.sleep(self.delay)
        super().calculate(atoms, properties, system_changes)


def campaign(folder: Path, delay: float, repeat: int, asynchronous: bool) -> Path:
    write(folder / "cu.extxyz", bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat))
    config = {
        "name": "async-benchmark", "seed": 3,
        "system": {"species": ["Cu"], "structures": [{"file": "cu.extxyz"}]},
        "oracle": {"calculator": "async_labelling:SlowEMT", "params": {"delay": delay},
                   "workers": 2, "timeout": "600 s"},
        "bootstrap": {"method": "rattle", "count": 4, "rattle": 0.05, "strain": 0.02},
        "potential": {"level": 8, "cutoff": 5.0, "fit_steps": 0,
                      "weights": {"energy": 1.0, "forces": 0.3, "stress": 0.0}},
        "active_learning": {"max_new": 4, "converge_after": "2 ps", "walkers": 3,
                            "asynchronous": asynchronous},
        "md": {"dump_every": 0, "phases": [{"name": "nvt", "ensemble": "nvt",
                                            "temperature": 1000, "length": "1 ps"}]},
        "stages": ["bootstrap", "learn"],
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(folder: Path, delay: float, repeat: int, asynchronous: bool) -> dict:
    folder.mkdir()
    config = campaign(folder, delay, repeat, asynchronous)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lotf", "run", str(config), "--workdir",
                           str(folder / "run")], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the {'asynchronous' if asynchronous else 'synchronous'} campaign "
                         f"failed:\n{done.stderr[-3000:]}")
    state = json.loads((folder / "run" / "state.json").read_text())
    ledger = Ledger(folder / "run" / "ledger.db")
    calls = [ledger.get(key) for key in ledger._ids]
    busy = sum(entry.wall_time for entry in calls)
    return {"wall_s": round(wall, 1), "oracle_calls": len(calls),
            "generations": state["generation"] + 1, "breaks": state["learn"]["breaks"],
            "oracle_busy_share": round(busy / (2 * wall), 3)}


def main() -> None:
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory(prefix="lotf-async-") as scratch:
        sync = run(Path(scratch) / "sync", delay, repeat, asynchronous=False)
        overlapped = run(Path(scratch) / "async", delay, repeat, asynchronous=True)
    print(json.dumps({
        "oracle_delay_s": delay, "workers": 2, "atoms": 4 * repeat ** 3, "walkers": 3,
        "synchronous": sync, "asynchronous": overlapped,
        "wall_ratio_sync_over_async": round(sync["wall_s"] / overlapped["wall_s"], 2),
        "calls_ratio_async_over_sync": round(overlapped["oracle_calls"] / sync["oracle_calls"],
                                             2),
        "most_overlap_could_save": round(1 / max(sync["oracle_busy_share"],
                                                 1 - sync["oracle_busy_share"]), 2),
    }, indent=2))


if __name__ == "__main__":
    main()
