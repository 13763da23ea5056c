"""What keeping a worker's calculator saves: seconds per oracle call through lotf's pool, with
the calculator built once per worker (reset between calls) and built afresh for every call.

Default calculator: SevenNet-0 (`pip install sevenn`; weights in the wheel), a universal ML
potential whose construction loads its weights. Labels N rattled copies of a 96-atom amorphous
Li3PS4 cell with one worker. Prints JSON; the labels of both runs must agree.
Usage: python benchmarks/oracle_reuse.py [N] [module:Class]
"""

import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lotf.build.amorphous import AmorphousSpec, pack
from lotf.labelling import label
from lotf.ledger import Ledger
from lotf.oracle.settings import Oracle
from lotf.stages.bootstrap import RattleBootstrap, rattled_copies

DEFAULT = "sevenn.calculator:SevenNetCalculator"


def cells(n: int) -> list:
    spec = AmorphousSpec.model_validate({"builder": "amorphous", "units": {"PS4": 12, "Li": 36},
                                         "density": 1.8, "min_distance": {"default": 1.9}})
    start = pack(spec, np.random.default_rng(96))
    return rattled_copies([start], RattleBootstrap(count=n, rattle=0.05, strain=0.0), 7)


def per_call(calculator: str, structures: list, reuse: bool) -> tuple[float, list[float]]:
    oracle = Oracle.model_validate({"calculator": calculator, "workers": 1,
                                    "timeout": "10 min", "reuse_calculator": reuse})
    with tempfile.TemporaryDirectory() as scratch:
        ledger = Ledger(Path(scratch) / "ledger.db")
        start = time.perf_counter()
        label(structures, ledger, oracle, Path(scratch) / "calls", "benchmark")
        seconds = (time.perf_counter() - start) / len(structures)
        energies = [a.get_potential_energy() for a in ledger.labelled()]
    return seconds, sorted(energies)


def main(n: int, calculator: str) -> dict:
    module, _, attribute = calculator.partition(":")
    if importlib.util.find_spec(module.split(".")[0]) is None:
        return {"calculator": calculator, "result": "not installed"}
    structures = cells(n)
    kept, kept_energies = per_call(calculator, structures, True)
    fresh, fresh_energies = per_call(calculator, structures, False)
    return {"calculator": calculator, "atoms": len(structures[0]), "calls": n,
            "seconds_per_call_kept": round(kept, 3),
            "seconds_per_call_built_each_call": round(fresh, 3),
            "ratio_built_to_kept": round(fresh / kept, 2),
            "largest_label_difference_eV": float(np.max(np.abs(
                np.array(kept_energies) - np.array(fresh_energies))))}


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    print(json.dumps(main(count, sys.argv[2] if len(sys.argv) > 2 else DEFAULT), indent=2))
