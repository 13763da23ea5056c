"""The potential held to the oracle on frames a science stage measures: a sample is labelled
(under a source that answers the generation audited, `audit-NNNN`, so later generations train
on it and every generation still retrains exactly), and the potential's energy, force and
pressure errors there are judged against a tolerance (the campaign's `audit`, or
`active_learning.check` for a phase's converged MD)."""

import numpy as np
from ase import Atoms

from lotf.config import OracleTolerance
from lotf.context import Context
from lotf.labelling import label
from lotf.ledger import OK, content_key
from lotf.oracle import fingerprint
from lotf.potential import Potential
from lotf.units import EV_PER_A3_TO_GPA


class Audit(OracleTolerance):
    """Relabel a sample of the glasses' production frames and hold the potential to the oracle
    there; worse than a tolerance, the labels join the training set, the potential is retrained
    and the melt-quench rerun on it, until the audit passes or `rounds` are spent."""


def sample(frames: list[Atoms], count: int, seed: list[int]) -> list[Atoms]:
    """`count` frames drawn at random without replacement (all if fewer), in their order, as
    bare copies (the MD's energies and grades dropped)."""
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(frames), size=min(count, len(frames)), replace=False))
    chosen = [frames[int(i)].copy() for i in picks]
    for atoms in chosen:
        atoms.calc = None
    return chosen


def oracle_errors(ctx: Context, frames: list[Atoms], potential: Potential,
                  generation: int) -> dict | None:
    """Label `frames` as audits of `generation` and compare `potential` there: RMSE and mean
    errors of energy (meV/atom), forces (eV/Å) and pressure (GPa); None if none was labelled."""
    label(frames, ctx.ledger, ctx.config.oracle, ctx.run.oracle_calls, f"audit-{generation:04d}")
    oracle = fingerprint(ctx.config.oracle.calculator, ctx.config.oracle.params)
    energy, forces, pressure = [], [], []
    for atoms in frames:
        entry = ctx.ledger.get(content_key(atoms, oracle))
        if entry is None or entry.status != OK:
            continue
        predicted, truth = potential.evaluate(atoms), entry.atoms
        energy.append((predicted.energy - truth.get_potential_energy()) / len(atoms))
        forces.append((predicted.forces - truth.get_forces()).ravel())
        pressure.append(-np.sum(predicted.stress[:3] - truth.get_stress()[:3]) / 3.0)
    if not energy:
        return None
    energy, forces = np.array(energy), np.concatenate(forces)
    pressure = EV_PER_A3_TO_GPA * np.array(pressure)
    return {"generation": generation, "frames": len(energy),
            "energy_rmse_mev_per_atom": float(1e3 * np.sqrt(np.mean(energy**2))),
            "energy_mean_error_mev_per_atom": float(1e3 * energy.mean()),
            "forces_rmse_ev_per_a": float(np.sqrt(np.mean(forces**2))),
            "pressure_rmse_gpa": float(np.sqrt(np.mean(pressure**2))),
            "pressure_mean_error_gpa": float(pressure.mean())}


def within(errors: dict, tolerance: OracleTolerance, pressure: bool = True) -> bool:
    """Whether every error is inside the tolerance (the audit's, or the convergence check's);
    the pressure's only if `pressure` (it is judged where it drives the cell)."""
    return bool(errors["energy_rmse_mev_per_atom"] <= tolerance.energy_rmse
                and errors["forces_rmse_ev_per_a"] <= tolerance.forces_rmse
                and (not pressure or errors["pressure_rmse_gpa"] <= tolerance.pressure_rmse))


def describe(errors: dict) -> str:
    """The errors in one phrase, for logs and flags."""
    return (f"{errors['energy_rmse_mev_per_atom']:.1f} meV/atom (mean "
            f"{errors['energy_mean_error_mev_per_atom']:+.1f}), {errors['forces_rmse_ev_per_a']:.3f}"
            f" eV/Å, {errors['pressure_rmse_gpa']:.2f} GPa (mean "
            f"{errors['pressure_mean_error_gpa']:+.2f}) RMSE")
