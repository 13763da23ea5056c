"""Partial RDFs: cost per frame x atom for small and large cells, in one run; prints JSON.

The structure stage's RDF must grow linearly with frames x atoms (issue 6). Amorphous-like
Li3PS4 cells of 4 and 32 formula-unit multiples are packed once, then their RDFs (all
partials, 6 Å, 300 bins) are timed over several frames; a ratio of the per-(frame x atom)
costs near 1 means linear. ASE's partial RDF on the same frames is timed beside it.
Usage: python benchmarks/rdf_scaling.py
"""

import json
import time

import numpy as np
from ase.geometry.rdf import get_rdf

from lotf.analysis.structure import partial_rdfs
from lotf.build.amorphous import AmorphousSpec, pack


def cell(formula_units: int, seed: int):
    spec = AmorphousSpec.model_validate({
        "builder": "amorphous", "units": {"PS4": formula_units, "Li": 3 * formula_units},
        "density": 1.8, "min_distance": {"default": 1.9}})
    return pack(spec, np.random.default_rng(seed))


def seconds_per_frame_atom(frames, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        partial_rdfs(frames, r_max=6.0, bins=300)
        best = min(best, time.perf_counter() - start)
    return best / (len(frames) * len(frames[0]))


def main() -> None:
    small = [cell(12, s) for s in range(8)]  # 96 atoms
    large = [cell(96, 0)] * 2  # 768 atoms
    per_small, per_large = seconds_per_frame_atom(small), seconds_per_frame_atom(large)
    start = time.perf_counter()
    for pair in [("Li", "S"), ("P", "S"), ("S", "S")]:
        get_rdf(large, 6.0, 300, elements=pair)
    ase_three_pairs = (time.perf_counter() - start) / (len(large) * len(large[0]))
    print(json.dumps({
        "atoms": [len(small[0]), len(large[0])],
        "us_per_frame_atom": [round(per_small * 1e6, 2), round(per_large * 1e6, 2)],
        "large_over_small": round(per_large / per_small, 2),
        "ase_three_partials_us_per_frame_atom": round(ase_three_pairs * 1e6, 2),
        "lotf_all_partials_vs_ase_three": round(per_large / ase_three_pairs, 3)}, indent=2))


if __name__ == "__main__":
    main()
