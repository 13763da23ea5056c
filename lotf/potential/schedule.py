"""How the native MTP is trained: the split, the ridge and the early-stopped L-BFGS over all
coefficients, around the exact least-squares solves the backend owns.

The nonlinear stage minimises the training part's loss plus a ridge on the radial
coefficients, checks the held-out part's loss after every iteration and keeps the best
iterate, not the last (the early stopping of pacemaker's and MLIP's users); it stops once
`patience` iterations brought no better held-out loss.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.optimize import minimize

Loss = Callable[[np.ndarray, bool], tuple[float, np.ndarray]]  # (parameters, gradient?)


@dataclass(frozen=True)
class FitSchedule:
    """What a full-parameter fit does after its least-squares start."""

    steps: int = 300  # L-BFGS iterations at most (0: least squares only)
    holdout: float = 0.1  # share of the structures kept out for early stopping (by content)
    patience: int = 50  # iterations without a better held-out loss before stopping
    ridge: float = 1e-6  # on the squared radial coefficients, in units of the loss


DEFAULT = FitSchedule()


@dataclass
class Outcome:
    """The iterate kept and what the nonlinear stage did to reach it."""

    parameters: np.ndarray
    iterations: int  # L-BFGS iterations run
    best_iteration: int  # the one kept (0: the start)
    held_loss: float  # the held-out loss at the kept iterate (nan: nothing held out)
    stopped_early: bool


def holdout_indices(structures: list[Atoms], share: float) -> np.ndarray:
    """The structures held out: those whose content hashes below `share` (at least one, the
    lowest, when there are two or more; none when `share` is 0). Chosen by each structure
    alone, so a structure held out once is held out in every later generation's fit, which
    its warm start (the previous generation) therefore never trained on; and a resume holds
    out the same ones."""
    if share <= 0 or len(structures) < 2:
        return np.array([], dtype=int)
    fractions = np.array([_content_fraction(atoms) for atoms in structures])
    held = np.flatnonzero(fractions < share)
    return held if len(held) else np.array([int(np.argmin(fractions))])


def _content_fraction(atoms: Atoms) -> float:
    """A number in [0, 1) fixed by the structure's species, positions and cell alone."""
    digest = hashlib.sha256()
    for array in (atoms.numbers, atoms.positions, atoms.cell.array):
        digest.update(np.ascontiguousarray(array).tobytes())
    return int(digest.hexdigest()[:13], 16) / 16**13


def early_stopped(train_loss: Loss, held_loss: Loss | None, start: np.ndarray,
                  ridge_mask: np.ndarray, schedule: FitSchedule) -> Outcome:
    """L-BFGS on the training loss plus the ridge from `start`, keeping the iterate of the
    lowest held-out loss (the last one when nothing is held out)."""
    ridge = schedule.ridge * ridge_mask

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = train_loss(x, True)
        return value + float(ridge @ (x * x)), gradient + 2.0 * ridge * x

    best = {"x": start.copy(), "loss": np.inf, "iteration": 0}
    count = {"iterations": 0, "early": False}
    if held_loss is not None:
        best["loss"] = held_loss(start, False)[0]

    def watch(intermediate_result) -> None:  # scipy passes the iterate by this name
        count["iterations"] += 1
        x = intermediate_result.x
        if held_loss is None:
            best.update(x=x.copy(), iteration=count["iterations"])
            return
        value = held_loss(x, False)[0]
        if value < best["loss"]:
            best.update(x=x.copy(), loss=value, iteration=count["iterations"])
        elif count["iterations"] - best["iteration"] >= schedule.patience:
            count["early"] = True
            raise StopIteration

    minimize(objective, start, jac=True, method="L-BFGS-B", callback=watch,
             options={"maxiter": schedule.steps})
    return Outcome(best["x"], count["iterations"], best["iteration"],
                   float(best["loss"]) if held_loss is not None else float("nan"), count["early"])
