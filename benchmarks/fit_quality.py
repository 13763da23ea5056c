"""Fit quality: least squares only, lotf's default fit, and motep's own trainer on the same labels.

Two sets: the demo's own labels (GFN1-xTB, 32-atom Li3PS4; its training labels and the 30
validation frames the demo relabelled from converged MD), and an EMT Cu-Ag-Au alloy labelled
here (32-atom fcc cells from MD at 600-1400 K and ±3 % strain; every fifth frame held out).
For each set and method: train and validation errors (energy MAE meV/atom, force RMSE eV/Å) and
fit seconds; then what a warm start saves (fit on 90 % of the training set, then the whole set
from that potential's coefficients, against a fit of the whole set from scratch).

motep runs its Level2MTP → LLS → L-BFGS-B → LLS schedule (lotf's motep backend) with
MOTEP_STEPS iterations (motep's loss is ~30x slower per iteration than lotf's core; 100 on the
demo set takes ~7 min here). Prints JSON.

Usage: python benchmarks/fit_quality.py [MOTEP_STEPS] [--demo-run DIR] [--sweep]
  (without --demo-run: the demo labels recorded in benchmarks/data/demo_labels.extxyz.gz;
  --sweep: lotf's fit over held-out share, patience and ridge, the measurement behind its
  defaults, instead of the comparison)
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.units import fs

from lotf.potential import FitSchedule, create

HERE = Path(__file__).resolve().parent
DEMO_LABELS = HERE / "data" / "demo_labels.extxyz.gz"
DEMO_WEIGHTS = {"energy": 100.0, "forces": 0.1, "stress": 0.0}  # the demo's NVT weights
LEVEL = 12


def demo_set(run: Path | None) -> tuple[list[Atoms], list[Atoms]]:
    """The demo's training labels and validation frames, from a run directory or the record."""
    if run is None:
        frames = read(DEMO_LABELS, index=":")
        return ([a for a in frames if a.info["role"] == "train"],
                [a for a in frames if a.info["role"] == "validation"])
    from lotf.ledger import NOT_FOR_TRAINING, VALIDATION, Ledger

    ledger = Ledger(run / "ledger.db")
    return (ledger.labelled(exclude=NOT_FOR_TRAINING),
            ledger.labelled(keep=lambda source: source == VALIDATION))


def emt_set(frames: int = 100, seed: int = 0) -> tuple[list[Atoms], list[Atoms]]:
    """Labelled frames of Cu-Ag-Au fcc alloys from Langevin MD: every fifth for validation."""
    rng = np.random.default_rng(seed)
    labelled = []
    for run, temperature in enumerate(np.linspace(600, 1400, 5)):
        atoms = bulk("Cu", "fcc", a=3.85, cubic=True) * (2, 2, 2)
        atoms.numbers = rng.choice([29, 47, 79], size=len(atoms), p=[0.5, 0.25, 0.25])
        atoms.set_cell(atoms.cell * rng.uniform(0.97, 1.03), scale_atoms=True)
        atoms.calc = EMT()
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dynamics = Langevin(atoms, 2 * fs, temperature_K=temperature, friction=0.02,
                            rng=np.random.default_rng(seed + run))
        for _ in range(frames // 5):
            dynamics.run(25)
            copy = atoms.copy()
            copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy(),
                                              forces=atoms.get_forces(),
                                              stress=atoms.get_stress())
            labelled.append(copy)
    return ([a for k, a in enumerate(labelled) if k % 5],
            [a for k, a in enumerate(labelled) if not k % 5])


def errors(potential, frames: list[Atoms]) -> dict:
    energy, forces = [], []
    for atoms in frames:
        result = potential._evaluate(atoms, with_basis=False)
        energy.append(abs(result.energy - atoms.get_potential_energy()) / len(atoms))
        forces.append((result.forces - atoms.get_forces()).ravel())
    return {"energy_mae_mev_per_atom": round(1e3 * float(np.mean(energy)), 2),
            "forces_rmse_ev_per_a": round(float(np.sqrt(np.mean(np.concatenate(forces)**2))), 4)}


def shortest(frames: list[Atoms]) -> float:
    return min(float(a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)].min())
               for a in frames)


def fit(backend: str, species, train, weights, schedule: FitSchedule, min_dist: float,
        start=None):
    potential = create(species, backend=backend, level=LEVEL, cutoff=5.0, min_dist=min_dist,
                       seed=7, schedule=schedule)
    clock = time.perf_counter()
    potential.fit(train, weights, seed=7, start=start)
    return potential, time.perf_counter() - clock


SWEEP = [FitSchedule(holdout=holdout, patience=patience, ridge=ridge)
         for holdout in (0.1, 0.2) for patience in (10, 25, 50) for ridge in (0.0, 1e-6, 1e-4)]


def sweep(species, train, validation, weights) -> list[dict]:
    """lotf's fit over held-out share, patience and ridge: the measurement behind the defaults."""
    min_dist = 0.95 * shortest(train + validation)
    rows = []
    for schedule in SWEEP:
        potential, seconds = fit("native", species, train, weights, schedule, min_dist)
        rows.append({"holdout": schedule.holdout, "patience": schedule.patience,
                     "ridge": schedule.ridge, "seconds": round(seconds, 1),
                     "iterations": potential.last_fit.iterations,
                     "validation": errors(potential, validation)})
    return rows


def measure(name: str, species, train, validation, weights, motep_steps: int) -> dict:
    min_dist = 0.95 * shortest(train + validation)
    methods = {"least_squares": ("native", FitSchedule(steps=0)),
               "lotf": ("native", FitSchedule()),
               f"motep_{motep_steps}_steps": ("motep", FitSchedule(steps=motep_steps))}
    table = {}
    for method, (backend, schedule) in methods.items():
        potential, seconds = fit(backend, species, train, weights, schedule, min_dist)
        row = {"seconds": round(seconds, 1), "train": errors(potential, train),
               "validation": errors(potential, validation)}
        if potential.last_fit is not None:
            row["iterations"], row["kept_iteration"] = (potential.last_fit.iterations,
                                                        potential.last_fit.best_iteration)
        table[method] = row
    lotf, motep = table["lotf"], table[f"motep_{motep_steps}_steps"]
    earlier, _ = fit("native", species, train[:int(0.9 * len(train))], weights, FitSchedule(),
                     min_dist)
    warm, warm_seconds = fit("native", species, train, weights, FitSchedule(), min_dist,
                             start=earlier.parameters())
    return {"set": name, "train_frames": len(train), "validation_frames": len(validation),
            "atoms": len(train[0]), "weights": weights, "level": LEVEL, "methods": table,
            "lotf_seconds_over_motep": round(lotf["seconds"] / motep["seconds"], 3),
            "warm_start": {"seconds": round(warm_seconds, 1),
                           "seconds_over_cold": round(warm_seconds / lotf["seconds"], 3),
                           "iterations": warm.last_fit.iterations,
                           "validation": errors(warm, validation)}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("motep_steps", nargs="?", type=int, default=100)
    parser.add_argument("--demo-run", type=Path, help="a demo run directory to take labels from")
    parser.add_argument("--sweep", action="store_true",
                        help="lotf's fit over held-out share, patience and ridge instead")
    args = parser.parse_args()
    sets = [("demo Li3PS4 (GFN1-xTB)", ["Li", "P", "S"], *demo_set(args.demo_run), DEMO_WEIGHTS),
            ("Cu-Ag-Au alloy (EMT)", ["Cu", "Ag", "Au"], *emt_set(),
             {"energy": 100.0, "forces": 0.1, "stress": 0.01})]
    if args.sweep:
        print(json.dumps({"sweep": [{"set": name, "fits": sweep(*rest)}
                                    for name, *rest in sets]}, indent=2))
    else:
        print(json.dumps({"sets": [measure(*case, args.motep_steps) for case in sets]},
                         indent=2))
