"""Fitting one generation: its training labels from the ledger, the fit (or the same fit copied
from a study's fit cache), its active set, its errors on what it was fitted to, saved whole.
The learning loop (lotf.learning.learner) decides when; this module only does it."""

import json
import time

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from lotf.context import Context
from lotf.errors import StageFailed
from lotf.faults import checkpoint
from lotf.generations import training_labels
from lotf.learning.fit_cache import fit_key
from lotf.ledger import oracle_id
from lotf.log import logger
from lotf.offline import refuse_new
from lotf.oracle import fingerprint
from lotf.potential import FitSchedule, Potential, create, load

MIN_DIST_MARGIN = 0.95  # min_dist from the data: this fraction of the shortest distance seen


def training_data(ctx: Context, generation: int) -> list[Atoms]:
    """What generation N of this campaign trains on (lotf.generations.training_labels)."""
    oracle = ctx.config.oracle
    return training_labels(ctx.ledger, oracle_id(fingerprint(oracle.calculator, oracle.params)),
                           generation)


def new_potential(ctx: Context, generation: int, data: list[Atoms]) -> Potential:
    """Generation N's potential before its fit: the campaign's form, its radial basis reaching
    down to the shortest labelled distance (collisions are never labelled)."""
    config, settings = ctx.config, ctx.config.potential
    min_dist = settings.min_dist or MIN_DIST_MARGIN * shortest_distance(data, settings.cutoff)
    schedule = FitSchedule(settings.fit_steps, settings.fit_holdout, settings.fit_patience,
                           settings.fit_ridge)
    return create(config.system.species, backend=settings.backend, level=settings.level,
                  cutoff=settings.cutoff, min_dist=min_dist,
                  radial_basis_size=settings.radial_basis_size, seed=config.seed + generation,
                  schedule=schedule)


def fit_and_save(ctx: Context, generation: int, weights: dict[str, float], data: list[Atoms],
                 potential: Potential, start: np.ndarray | None) -> dict:
    """Fit `potential` as generation N on `data` from `start` (or copy the same fit from the
    study's cache), save it in the run directory; returns the facts to record."""
    refuse_new("a fit")
    config = ctx.config
    clock = time.perf_counter()
    cache, key = ctx.fit_cache, None
    if cache is not None:
        key = fit_key(data, config.potential.model_dump(mode="json"),
                      weights=json.dumps(weights, sort_keys=True), seed=config.seed + generation,
                      min_dist=potential.min_dist, start=start,
                      grade_mode=config.active_learning.grade_mode)
    cached = cache.get(key) if cache is not None else None
    if cached is not None:
        potential = load(cached)
        logger.info("generation %d: the same fit as %s (same labels, settings, seed and "
                    "start), copied", generation, cached)
    else:
        potential.fit(data, weights, seed=config.seed + generation, start=start)
        try:
            potential.update_active_set(data, config.active_learning.grade_mode)
        except ValueError as reason:  # too few rows, or rows that span too little
            raise StageFailed(f"generation {generation}: no active set ({reason}); label more "
                              "varied structures first (bootstrap.count) or lower "
                              "potential.level") from None
        if cache is not None:
            cache.put(key, potential.save)
    errors = potential.errors(data)
    seconds = time.perf_counter() - clock
    checkpoint("train")
    ctx.run.save_generation(generation, potential.save)
    how = potential.last_fit
    how = "" if how is None else (f"; {how.iterations} L-BFGS iterations, kept "
                                  f"{how.best_iteration}"
                                  f"{' (early stop)' if how.stopped_early else ''}")
    logger.info("generation %d: trained on %d structures in %.1f s (%s%s); RMSE %.2f meV/atom, "
                "%.3f eV/Å", generation, len(data), seconds,
                "from the previous generation" if start is not None else "from a pair start",
                how, errors["energy_rmse_mev_per_atom"], errors["forces_rmse_ev_per_a"])
    return dict(train_rmse=errors, trained_on=len(data), weights=weights,
                min_dist=round(potential.min_dist, 4), volume_per_atom=volumes_per_atom(data),
                fit_seconds=round(seconds, 1), warm_start=start is not None)


def volumes_per_atom(structures: list[Atoms]) -> list[float] | None:
    """The smallest and largest volume per atom (Å³) of the periodic structures, if any."""
    volumes = [atoms.get_volume() / len(atoms) for atoms in structures if atoms.pbc.all()]
    return [min(volumes), max(volumes)] if volumes else None


def shortest_distance(structures: list[Atoms], cutoff: float) -> float:
    """The shortest interatomic distance in the structures (within `cutoff`)."""
    shortest = cutoff
    for atoms in structures:
        distances = neighbor_list("d", atoms, cutoff)
        if len(distances):
            shortest = min(shortest, float(distances.min()))
    return shortest
