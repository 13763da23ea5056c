"""How much of a run's oracle forces an MTP of each cutoff cannot represent (a floor under its
force error), measured on the run's own labelled frames with the run's own oracle.

Usage: python benchmarks/oracle_locality.py RUN_DIR [FRAMES] [CUTOFF ...]
(defaults: 4 frames of the `validation` labels, or of any labels if there are none; cutoffs 5
and 7 Å). Prints JSON: per cutoff the RMS change of the force on an atom when every atom beyond
the cutoff is displaced by 0.1 Å (Gaussian, per component), and the RMS force itself.
The probes are oracle calls outside the ledger, made here one at a time on the oracle's `ranks`
and `launcher`: FRAMES x 5 calls per cutoff (for DFT, budget them as such).
"""

import json
import sys
from pathlib import Path

from lotf.analysis.locality import force_from_beyond
from lotf.campaign import prepare
from lotf.ledger import Ledger, oracle_id
from lotf.oracle import fingerprint
from lotf.oracle.calculators import make_calculator


def main(run_dir: str, frames: int = 4, cutoffs: tuple[float, ...] = (5.0, 7.0)) -> dict:
    config, run, _ = prepare(Path(run_dir), None)
    oracle = config.oracle
    ledger = Ledger(run.ledger_file)
    own = oracle_id(fingerprint(oracle.calculator, oracle.params))
    chosen = ledger.labelled(own, keep=lambda source: source == "validation") or ledger.labelled(own)
    chosen = chosen[:frames]
    return {"run": run_dir, "oracle": oracle.calculator, "frames": len(chosen),
            "atoms_per_frame": len(chosen[0]),
            "cutoffs": [force_from_beyond(chosen, lambda: make_calculator(
                oracle.calculator, oracle.params, oracle.ranks, oracle.launcher), cutoff)
                for cutoff in cutoffs]}


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if not arguments:
        sys.exit(__doc__)
    try:
        found = main(arguments[0], int(arguments[1]) if len(arguments) > 1 else 4,
                     tuple(float(c) for c in arguments[2:]) or (5.0, 7.0))
    except ValueError as error:
        print(f"oracle_locality: {error}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(found, indent=1))
