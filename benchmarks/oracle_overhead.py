"""What the ledger and the isolated-process pool cost per oracle call, as ratios in one run.

Labels N small EMT cells three ways in the same process: EMT called directly, through the pool
with one worker (process start, pickling, ledger write), and again through the ledger when all
are cached (hash + lookup only). Prints JSON. Usage: python benchmarks/oracle_overhead.py [N]
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from ase.build import bulk
from ase.calculators.emt import EMT

from lotf.labelling import label
from lotf.ledger import Ledger
from lotf.oracle.settings import Oracle
from lotf.stages.bootstrap import RattleBootstrap, rattled_copies


def cells(n: int, seed: int = 0) -> list:
    """`n` rattled 2x2x2 fcc Cu cells, made as the bootstrap stage makes them."""
    cell = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    return rattled_copies([cell], RattleBootstrap(count=n, rattle=0.05, strain=0.0), seed)


def main(n: int = 50) -> dict:
    structures = cells(n)
    start = time.perf_counter()
    for atoms in structures:
        probe = atoms.copy()
        probe.calc = EMT()
        probe.get_potential_energy(), probe.get_forces(), probe.get_stress()
    direct = (time.perf_counter() - start) / n
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.db")
        oracle = Oracle.model_validate({"calculator": "emt", "workers": 1, "timeout": "60 s"})
        start = time.perf_counter()
        label(structures, ledger, oracle, Path(tmp) / "calls", "bench")
        pooled = (time.perf_counter() - start) / n
        start = time.perf_counter()
        label(structures, ledger, oracle, Path(tmp) / "calls", "bench")
        cached = (time.perf_counter() - start) / n
    return {
        "structures": n, "atoms": len(structures[0]),
        "direct_ms_per_call": round(direct * 1e3, 3),
        "pool_ms_per_call": round(pooled * 1e3, 3),
        "cached_ms_per_structure": round(cached * 1e3, 3),
        "pool_overhead_ms_per_call": round((pooled - direct) * 1e3, 3),
        "pool_over_direct_ratio": round(pooled / direct, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50), indent=2))
