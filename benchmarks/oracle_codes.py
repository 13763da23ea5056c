"""Time per oracle call of each DFT code lotf ships, at its default level of theory, on a
16-atom amorphous Li3PS4 cell (two PS4 units and six Li at 1.8 g/cm3), on 1 and 2 ranks.

Every call goes through lotf's labelling path (ledger, worker pool, the code's convergence
check), one fresh ledger per case, so a case is one real call. Codes that are not installed
are reported as such. Prints JSON. Usage: python benchmarks/oracle_codes.py [gpaw cp2k ...]
"""

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lotf.build.amorphous import AmorphousSpec, pack
from lotf.labelling import label
from lotf.ledger import Ledger, content_key
from lotf.oracle import fingerprint
from lotf.oracle.settings import Oracle

CASES = {  # code: (extra oracle settings on 2 ranks, what must be installed)
    "gpaw": ({}, "gpaw"),
    "cp2k": ({"launcher": "mpirun --allow-run-as-root -n {ranks}"}, "cp2k_shell.psmp"),
}


def cell() -> "Atoms":  # noqa: F821
    """The benchmark's 16-atom cell, packed as the amorphous builder packs campaigns' cells."""
    spec = AmorphousSpec.model_validate({"builder": "amorphous", "units": {"PS4": 2, "Li": 6},
                                         "density": 1.8})
    return pack(spec, np.random.default_rng(16))


def one_call(code: str, ranks: int, extra: dict) -> dict:
    atoms = cell()
    oracle = Oracle.model_validate({"calculator": code, "ranks": ranks, "max_attempts": 1,
                                    **(extra if ranks > 1 else {})})
    with tempfile.TemporaryDirectory() as scratch:
        ledger = Ledger(Path(scratch) / "ledger.db")
        start = time.perf_counter()
        label([atoms], ledger, oracle, Path(scratch) / "calls", "benchmark")
        seconds = time.perf_counter() - start
        entry = ledger.get(content_key(atoms, fingerprint(code, oracle.params)))
    result = {"ranks": ranks, "seconds": round(seconds, 2), "status": entry.status}
    if entry.status == "ok":
        result["energy_eV"] = round(float(entry.atoms.get_potential_energy()), 6)
    else:
        result["error"] = entry.error
    return result


def main(codes: list[str]) -> dict:
    report = {"atoms": len(cell()), "formula": cell().get_chemical_formula(), "codes": {}}
    for code in codes:
        extra, needs = CASES[code]
        if shutil.which(needs) is None and not _importable(needs):
            report["codes"][code] = "not installed"
            continue
        runs = [one_call(code, ranks, extra) for ranks in (1, 2)]
        if all(r["status"] == "ok" for r in runs):
            runs.append({"energy_difference_eV": abs(runs[0]["energy_eV"] - runs[1]["energy_eV"]),
                         "speedup_2_ranks": round(runs[0]["seconds"] / runs[1]["seconds"], 2)})
        report["codes"][code] = runs
    return report


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:] or list(CASES)), indent=2))
