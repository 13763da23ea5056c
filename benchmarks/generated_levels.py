"""The generated MTP basis against MLIP's level files, in one run; prints JSON.

Both define the same basis functions (tests/test_levels.py checks them one to one); they differ
in how the contractions are built: MLIP's through tensor intermediates, lotf's generator
pairwise through products of basic moments. For levels 12, 16 and 20 on a 96-atom
Li3PS4-like cell (3 species), one thread: the contraction rows of each and µs per atom of an
energy+forces call and of one with the grade's basis, and their ratios (generated / MLIP).
This is what keeps lotf shipping MLIP's files. Usage: python benchmarks/generated_levels.py
"""

import json
import time
from dataclasses import replace

import numpy as np
from mtp_core import SPECIES, cell

from lotf.potential import _mtp
from lotf.potential.levels import generate
from lotf.potential.native_backend import NativeMTP, level_definition

SECONDS = 1.0  # per timing


def potential(mtp) -> NativeMTP:
    """A random 3-species MTP on the given basis (small moment coefficients)."""
    rng = np.random.default_rng(0)
    mtp = replace(mtp, species_count=3, min_dist=1.6, max_dist=5.0, radial_basis_size=8)
    mtp = replace(mtp, species_coeffs=rng.uniform(-5, 5, 3),
                  moment_coeffs=1e-3 * rng.uniform(-5, 5, len(mtp.alpha_moment_mapping)),
                  radial_coeffs=rng.uniform(-0.1, 0.1, (3, 3, mtp.radial_funcs_count, 8)))
    return NativeMTP(mtp, SPECIES[3], level=0)


def per_atom_us(model: NativeMTP, atoms, with_basis: bool) -> float:
    model._evaluate(atoms, with_basis)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        model._evaluate(atoms, with_basis)
        calls += 1
    return 1e6 * (time.perf_counter() - start) / calls / len(atoms)


def main() -> dict:
    _mtp.set_threads(1)
    atoms = cell(96, 3, seed=1)
    results = {}
    for level in (12, 16, 20):
        row = {}
        for name, mtp in (("mlip", level_definition(level)), ("generated", generate(level))):
            model = potential(mtp)
            row[name] = {"contraction_rows": len(mtp.alpha_index_times),
                         "forces_us_per_atom": round(per_atom_us(model, atoms, False), 2),
                         "basis_us_per_atom": round(per_atom_us(model, atoms, True), 2)}
        for quantity in ("forces", "basis"):
            key = f"{quantity}_us_per_atom"
            row[f"{quantity}_ratio"] = round(row["generated"][key] / row["mlip"][key], 2)
        results[f"level{level}"] = row
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
