"""The `validate` stage: the converged potential against the oracle on frames of its own MD.

Frames are sampled evenly from the final generation's trajectories of the last phase and
labelled through the ledger (as `validation`, never trained on). Reports MAE and RMSE of
energy per atom and force components, and a parity plot.
"""


import numpy as np
from pydantic import Field, PositiveInt

from lotf.context import Context
from lotf.errors import StageFailed
from lotf.labelling import label
from lotf.learning.learner import Learner
from lotf.ledger import OK, VALIDATION, content_key
from lotf.log import logger
from lotf.model import Strict
from lotf.oracle import fingerprint
from lotf.report import add_result, pyplot, save_figure
from lotf.stages.registry import Section, register_stage
from lotf.store import read_trajectories


class Validation(Strict):
    """Relabel frames of the converged MD with the oracle (the paper: 200 snapshots)."""

    frames: PositiveInt = Field(50, le=100_000)

def _frames(ctx: Context, files: list) -> list:
    """Frames sampled evenly from the trajectory files (a damaged one is left out)."""
    frames = read_trajectories(files, "validate")
    if not frames:
        raise StageFailed("validate: every trajectory of the final potential is damaged")
    picks = np.unique(np.linspace(0, len(frames) - 1, ctx.config.validation.frames).round())
    return [frames[int(i)] for i in picks]


@register_stage("validate", section=Section("validation", Validation, Validation()),
                needs=("learn",), phases=True, trajectories=True, reports=True)
def validate(ctx: Context) -> dict:
    phase = ctx.config.md.phases[-1].name if ctx.config.md.phases else None
    learner = Learner(ctx)
    generation, files = learner.final_trajectories(phase) if phase else (None, [])
    if generation is None or not files:
        raise StageFailed(f"validate: no trajectory of the last MD phase ({phase}) yet: run the "
                          "learn stage with md.dump_every above 0")
    potential = learner.generation(generation)
    frames = _frames(ctx, files)
    for atoms in frames:
        atoms.calc = None
    label(frames, ctx.ledger, ctx.config.oracle, ctx.run.oracle_calls, VALIDATION)
    oracle = fingerprint(ctx.config.oracle.calculator, ctx.config.oracle.params)
    energy, forces = [], []
    for atoms in frames:
        entry = ctx.ledger.get(content_key(atoms, oracle))
        if entry is None or entry.status != OK:
            continue
        predicted = potential.evaluate(atoms)
        energy.append((predicted.energy / len(atoms), entry.atoms.get_potential_energy() / len(atoms)))
        forces.append(np.stack([predicted.forces.ravel(), entry.atoms.get_forces().ravel()], 1))
    if not energy:
        raise StageFailed("validate: the oracle labelled none of the frames")
    energy, forces = np.array(energy), np.vstack(forces)
    result = {"generation": generation, "frames": len(energy), **_errors(energy, forces)}
    flags = _flags(ctx, generation, len(energy), phase)
    if flags:
        result["flags"] = flags
    _parity_plot(ctx, energy, forces, result)
    path = add_result(ctx.run, "validation", result)
    logger.info("validation on %d frames: energy MAE %.2f meV/atom (RMSE %.2f), forces MAE %.3f "
                "eV/Å (RMSE %.3f); %s", len(energy), result["energy_mae_mev_per_atom"],
                result["energy_rmse_mev_per_atom"], result["forces_mae_ev_per_a"],
                result["forces_rmse_ev_per_a"], path)
    for text in flags:
        logger.warning("validation: %s", text)
    return result


def _flags(ctx: Context, generation: int, frames: int, phase: str) -> list[str]:
    """Plain sentences when the validation says less than asked: fewer frames, or frames of a
    potential that is not the run's last (its learning ended unconverged)."""
    flags = []
    if frames < ctx.config.validation.frames:
        flags.append(f"only {frames} of the {ctx.config.validation.frames} frames asked were "
                     f"validated (of generation {generation}'s MD in phase {phase})")
    latest = ctx.run.latest_generation()
    if latest != generation:
        flags.append(f"the learning ended unconverged on generation {latest}, which ran no MD; "
                     f"these are generation {generation}'s frames, up to its break")
    return flags


def _errors(energy: np.ndarray, forces: np.ndarray) -> dict:
    de, df = energy[:, 0] - energy[:, 1], forces[:, 0] - forces[:, 1]
    return {
        "energy_mae_mev_per_atom": float(1e3 * np.abs(de).mean()),
        "energy_rmse_mev_per_atom": float(1e3 * np.sqrt((de**2).mean())),
        "energy_mean_error_mev_per_atom": float(1e3 * de.mean()),
        "forces_mae_ev_per_a": float(np.abs(df).mean()),
        "forces_rmse_ev_per_a": float(np.sqrt((df**2).mean())),
    }


def _parity_plot(ctx: Context, energy: np.ndarray, forces: np.ndarray, result: dict) -> None:
    """Energies as meV/atom from the oracle's mean (absolute ones, e.g. -3.861 eV/atom, give
    tick labels that run into each other), forces as they are; a few ticks, square panels."""
    figure, axes = pyplot().subplots(1, 2, figsize=(9, 4.2))
    relative = 1e3 * (energy - energy[:, 1].mean())
    for axis, (data, name, unit, mae) in zip(axes, [
            (relative, "energy − oracle mean", "meV/atom",
             f"{result['energy_mae_mev_per_atom']:.1f} meV/atom"),
            (forces, "force components", "eV/Å", f"{result['forces_mae_ev_per_a']:.3f} eV/Å")], strict=True):
        axis.scatter(data[:, 1], data[:, 0], s=4, alpha=0.6)
        low, high = data.min(), data.max()
        axis.plot([low, high], [low, high], "k--", lw=0.8)
        axis.set_xlabel(f"oracle {name} ({unit})")
        axis.set_ylabel(f"MTP {name} ({unit})")
        axis.set_title(f"MAE {mae}")
        axis.locator_params(nbins=5)
        axis.set_aspect("equal", adjustable="datalim")
    figure.tight_layout()
    rows = [{"panel": "energy", "unit": "meV/atom from the oracle mean", "oracle": float(o),
             "mtp": float(m)} for m, o in relative]
    rows += [{"panel": "forces", "unit": "eV/Å", "oracle": float(o), "mtp": float(m)}
             for m, o in forces]
    save_figure(ctx.run, "validation-parity", figure, rows)
