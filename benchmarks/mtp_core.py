"""The native MTP core against motep's C engine, in one run; prints JSON.

For Li3PS4-like cells (96 and 1000 atoms at 0.05 atoms/Å³, no pair under 1.8 Å) with 3
species (Li P S) and 5 (Li P S O B), at MTP levels 12 and 16, single thread:
- µs per atom per energy+forces+stress call, native and motep, and their ratio (target ≥ 5);
- loss + gradient over 8 such cells against one force call on each (target ≤ 4);
- 2 threads against 1 on the 1000-atom cell (target ≥ 1.7).
Calls repeat on fixed positions, so both backends reuse their neighbour lists (as in MD).
Usage: python benchmarks/mtp_core.py [--quick]
"""

import json
import sys
import time

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from lotf.potential import _mtp
from lotf.potential.motep_backend import MotepMTP
from lotf.potential.mtp_file import read_mtp
from lotf.potential.native_backend import NativeMTP

SPECIES = {3: ["Li", "P", "S"], 5: ["Li", "P", "S", "O", "B"]}
FRACTIONS = {3: [3, 1, 4], 5: [3, 1, 4, 2, 1]}


def cell(atoms: int, species: int, seed: int) -> Atoms:
    """Random positions at Li3PS4's number density with no pair closer than 1.8 Å."""
    rng = np.random.default_rng(seed)
    length = (atoms / 0.05) ** (1 / 3)
    positions = []
    while len(positions) < atoms:
        trial = rng.uniform(0, length, 3)
        if positions:
            d = np.asarray(positions) - trial
            d -= length * np.round(d / length)
            if (np.einsum("ij,ij->i", d, d) < 1.8**2).any():
                continue
        positions.append(trial)
    weights = np.array(FRACTIONS[species], dtype=float)
    symbols = rng.choice(SPECIES[species], atoms, p=weights / weights.sum())
    return Atoms(symbols, positions=positions, cell=[length] * 3, pbc=True)


def pair(level: int, species: int) -> tuple[MotepMTP, NativeMTP]:
    import tempfile
    from pathlib import Path

    reference = MotepMTP.create(SPECIES[species], level=level, cutoff=5.0, min_dist=1.6, seed=1)
    with tempfile.TemporaryDirectory() as scratch:
        reference._save(Path(scratch))
        native = NativeMTP(read_mtp(Path(scratch) / "pot.mtp"), SPECIES[species], level)
    return reference, native


def per_atom_us(potential, atoms: Atoms, seconds: float) -> float:
    potential._evaluate(atoms, with_basis=False)  # neighbour list, warm caches
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        potential._evaluate(atoms, with_basis=False)
        calls += 1
    return 1e6 * (time.perf_counter() - start) / calls / len(atoms)


def main(quick: bool) -> dict:
    seconds = 0.5 if quick else 2.0
    _mtp.set_threads(1)
    results = {"speed": [], "loss": [], "threads": {}}
    for species in (3, 5):
        for level in (12, 16):
            reference, native = pair(level, species)
            for atoms in (96, 1000):
                frame = cell(atoms, species, seed=atoms)
                motep_us = per_atom_us(reference, frame, seconds)
                native_us = per_atom_us(native, frame, seconds)
                results["speed"].append({"species": species, "level": level, "atoms": atoms,
                                         "motep_us_per_atom": round(motep_us, 2),
                                         "native_us_per_atom": round(native_us, 2),
                                         "ratio": round(motep_us / native_us, 2)})
            frames = [cell(96, species, seed=100 + k) for k in range(8)]
            for frame in frames:
                result = native._evaluate(frame, with_basis=False)
                frame.calc = SinglePointCalculator(frame, energy=result.energy + 1.0,
                                                   forces=result.forces + 0.1,
                                                   stress=result.stress + 0.01)
            samples = native.training_set(frames)
            force_calls = sum(per_atom_us(native, f, seconds / 8) * len(f) for f in frames)
            samples.loss(native.model, 1.0, 0.01, 0.001)
            count, start = 0, time.perf_counter()
            while count < 3 or time.perf_counter() - start < seconds:
                samples.loss(native.model, 1.0, 0.01, 0.001)
                count += 1
            loss_us = 1e6 * (time.perf_counter() - start) / count
            results["loss"].append({"species": species, "level": level, "cells": len(frames),
                                    "loss_and_gradient_ms": round(loss_us / 1e3, 2),
                                    "force_calls_ms": round(force_calls / 1e3, 2),
                                    "ratio": round(loss_us / force_calls, 2)})
    _, native = pair(16, 3)
    frame = cell(1000, 3, seed=1000)
    one = per_atom_us(native, frame, seconds)
    _mtp.set_threads(2)
    two = per_atom_us(native, frame, seconds)
    results["threads"] = {"level": 16, "atoms": 1000, "one_thread_us_per_atom": round(one, 2),
                          "two_threads_us_per_atom": round(two, 2), "speedup": round(one / two, 2)}
    return results


if __name__ == "__main__":
    print(json.dumps(main("--quick" in sys.argv), indent=1))
