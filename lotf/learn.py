"""The learning-on-the-fly controller: train, explore, select, label, retrain, until MD runs clean.

For each MD phase in turn: MTP-MD in segments of the phase's `length`, by one or several
independent walkers (each from its own initial structure, with its own restart point), the
walker with the least clean time going next. A segment without a break moves that walker's
restart point forward and adds to its time without a break; a break (grade above the break
threshold, or in NPT a volume per atom off the training data's range) selects at most
`max_new` D-optimal candidates (and the frame off the volumes, whatever its grade), labels
them, trains the next generation, sets every walker's clean time to zero (the potential
changed) and restarts the walker from its last frame under the select threshold. The phase
converges once every walker has run `converge_after` without a break.

With `active_learning.asynchronous`, a break's selection is labelled in the background while
the walkers that have not broken with that generation explore on with it; what they find is
kept (lotf.harvest) and joins the next selection, or is that selection at once if it already
breaks the new generation. Clean time counts only on the newest generation with no labels
coming, so the convergence rule is the same.

Everything that costs is on disk before the next step needs it, so a kill at any moment
resumes here: potentials by generation (written whole), the selected structures of each
break (before labelling), the restart structure of each phase, and the progress in state.json.
"""

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from lotf import harvest
from lotf.config import Campaign, Phase
from lotf.context import Context
from lotf.errors import StageFailed
from lotf.faults import checkpoint
from lotf.generations import committed_generation, committed_generations, training_labels
from lotf.labelling import Labelling, label
from lotf.ledger import oracle_id
from lotf.log import logger
from lotf.md.ensembles import ensemble
from lotf.md.groups import MDJob
from lotf.md.run import MDResult, MDSettings, concurrent_runs, run_md_many
from lotf.offline import refuse_new
from lotf.oracle import fingerprint, open_pool
from lotf.potential import FitSchedule, Potential, create, load
from lotf.store import read_structures, write_structures

MIN_DIST_MARGIN = 0.95  # min_dist from the data: this fraction of the shortest distance seen
COLLISION_FRACTION = 0.5  # pairs closer than this fraction of their covalent radii have collided
STUCK_LIMIT = 5  # breaks in a row that add no new label before giving up


def run_learning(ctx: Context, phases: list[Phase] | None = None) -> dict:
    """Run the MD phases (default: the campaign's) to convergence, in order, resuming after
    those already converged; return a summary for the state. Later stages append phases of
    their own (e.g. the diffusion temperatures), which then learn like any other."""
    phases = ctx.config.md.phases if phases is None else phases
    progress = learning_progress(ctx)
    for index, phase in enumerate(phases):
        if index < progress["phase"]:
            continue
        _learn_phase(ctx, phases, index, progress)
        progress["converged_phases"][phase.name] = progress["md_fs_without_break"] / 1000.0
        progress.update(phase=index + 1, md_fs_without_break=0.0, walker_fs_without_break=[],
                        stuck=0, breaks_in_phase=0, broke=[])
        # frames kept while the last labels came: the final potential ran clean, and none of
        # them broke it when it was trained (harvest.graded)
        released = harvest.release(ctx, progress)
        save_progress(ctx, progress)
        for path in released:
            path.unlink(missing_ok=True)
    state = ctx.run.read_state()
    state["converged"] = True
    ctx.run.write_state(state)
    generation = ctx.run.latest_generation()
    logger.info("converged: potential %s", ctx.run.generation_dir(generation))
    return {"generation": generation, "breaks": progress["breaks"]}


# --- one phase ---------------------------------------------------------------------------------
def _learn_phase(ctx: Context, phases: list[Phase], index: int, progress: dict) -> None:
    config, phase = ctx.config, phases[index]
    converge_fs = phase.converge_after or config.active_learning.converge_after
    walkers = config.active_learning.walkers
    clean = progress["walker_fs_without_break"]
    if len(clean) != walkers:  # a new phase, or the number of walkers was changed
        clean = [0.0] * walkers
    with BackgroundLabels(ctx) as background:
        while min(clean) < converge_fs - 1e-6:
            if progress["breaks_in_phase"] >= config.active_learning.max_iterations:
                raise StageFailed(f"phase {phase.name}: {progress['breaks_in_phase']} breaks "
                                  "without converging (active_learning.max_iterations)")
            _check_stuck(phase, progress)
            if background.coming(progress):
                if not _explore_while_labelling(ctx, phases, index, progress,
                                                background.collect):
                    background.wait()
                continue
            generation, potential = current_generation(ctx, phase, progress)
            if config.active_learning.asynchronous and _known_break(ctx, phase, generation,
                                                                    potential, progress):
                continue
            # the walkers with the least clean time go next: one at a time, or one per group
            order = [w for w in np.argsort(clean, kind="stable")
                     if clean[w] < converge_fs - 1e-6]
            breaks = _round(ctx, phases, index, progress, generation, potential, order, clean)
            if breaks:
                clean = [0.0] * walkers
                progress["walker_fs_without_break"] = clean
                progress["broke"] = sorted(breaks)  # they wait for the next generation
                handle_break(ctx, phase, generation, potential,
                             _together(list(breaks.values())), progress)


def _round(ctx: Context, phases: list[Phase], index: int, progress: dict, generation: int,
           potential: Potential, order: list[int], clean: list[float] | None,
           meanwhile: Callable[[], object] | None = None) -> dict[int, MDResult]:
    """One MD segment for each of the first walkers in `order` (as many as run at once):
    their restart points move on and, given `clean`, their clean time grows (committed per
    segment); returns the runs that broke by walker, whose break the caller handles.
    `meanwhile` is called while the MD runs."""
    config, phase = ctx.config, phases[index]
    converge_fs = phase.converge_after or config.active_learning.converge_after
    walkers = config.active_learning.walkers
    jobs, segments = [], []
    for offset, walker in enumerate(order[:concurrent_runs()]):
        start = _restart(ctx, phases[: index + 1], walker, progress)
        done = 0.0 if clean is None else clean[walker]
        steps = max(1, round(min(phase.length, converge_fs - done) / phase.timestep))
        segment = progress["segments"] + offset
        logger.info("phase %s, generation %d: MD segment %d%s, %d steps (%s)", phase.name,
                    generation, segment, f" of walker {walker}" if walkers > 1 else "", steps,
                    f"{done / 1e3:.1f} ps without a break" if clean is not None else
                    "exploring while the labels come")
        settings = md_settings(config, phase, steps, progress, generation, segment)
        logger.debug("  velocity seed %d (new velocities only if the start has none)",
                     settings.seed)
        jobs.append(MDJob(start, settings, _trajectory(ctx, phase, generation, segment,
                                                       walker)))
        segments.append((int(walker), segment))
    clock = time.perf_counter()
    results = run_md_many(potential, jobs, meanwhile)
    breaks = {}
    for (walker, segment), job, result in zip(segments, jobs, results, strict=True):
        checkpoint("segment")
        progress["segments"] = segment + 1
        logger.info("  %s%d steps in %.1f s, max grade %.3g%s",
                    f"walker {walker}: " if len(jobs) > 1 else "", result.steps,
                    time.perf_counter() - clock, result.max_grade, break_description(result))
        if result.restart is not None:
            set_restart(ctx, progress, phase.name, walker, result.restart, segment)
        if result.halted:
            breaks[walker] = result
            continue
        if clean is not None:
            clean[walker] += result.steps * phase.timestep
            progress.update(walker_fs_without_break=clean, md_fs_without_break=min(clean))
        _record(progress, generation, md_ps=result.steps * phase.timestep / 1e3,
                last_seed=job.settings.seed)
        save_progress(ctx, progress)
    return breaks


def _explore_while_labelling(ctx: Context, phases: list[Phase], index: int,
                             progress: dict, collect: Callable[[], object]) -> bool:
    """A round of MD with the generation whose selection is being labelled, by the walkers
    that have not broken with it (in turn); what breaks is kept for the next selection, and
    that walker waits for the next generation (more MD from its point would find the same).
    Clean time is not credited: a new potential is coming. `collect` takes the outcomes that
    are in while the MD runs, so the oracle's workers get their next calls. False if every
    walker waits."""
    generation = committed_generation(progress)
    walkers = ctx.config.active_learning.walkers
    order = [int(w) for w in np.roll(np.arange(walkers), -progress["segments"])
             if int(w) not in progress["broke"]]
    if not order:
        return False
    potential = load_generation(ctx, generation)
    breaks = _round(ctx, phases, index, progress, generation, potential, order, None, collect)
    found = []
    for result in breaks.values():
        _record(progress, generation, md_ps=result.steps * phases[index].timestep / 1e3)
        candidates = [atoms for atoms in result.candidates + [result.off_volume]
                      if atoms is not None and not _unphysical(ctx, atoms)]
        # what a selection of this break alone would take: the harvest stays small
        chosen = potential.select(candidates, ctx.config.active_learning.max_new) \
            if candidates else []
        found += [candidates[i] for i in chosen]
    progress["broke"] = sorted(progress["broke"] + list(breaks))
    if found:
        harvest.add(ctx, progress, generation, found)
        logger.info("  %d candidates kept for the next selection", len(found))
    save_progress(ctx, progress)
    return True


def _known_break(ctx: Context, phase: Phase, generation: int, potential: Potential,
                 progress: dict) -> bool:
    """Whether frames kept while labelling already break the new generation: then that is its
    break (handled, with those frames to select from), with no MD needed to find it."""
    threshold = ctx.config.active_learning.break_threshold
    above, highest = harvest.graded(ctx, progress, potential, threshold)
    if not above:
        return False
    logger.info("phase %s, generation %d: %d frames kept while labelling grade above %g "
                "(up to %.3g): a break without MD", phase.name, generation, len(above),
                threshold, highest)
    progress["walker_fs_without_break"] = [0.0] * ctx.config.active_learning.walkers
    handle_break(ctx, phase, generation, potential,
                 MDResult(steps=0, halted=True, break_step=None, max_grade=highest,
                          candidates=[], restart=None), progress)
    return True


class BackgroundLabels:
    """With `active_learning.asynchronous`, the labels of a committed break's selection are
    asked here, on a pool kept for the phase, and collected whenever the loop looks; the
    training that follows finds them in the ledger. Without it, nothing is ever coming."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._stack = contextlib.ExitStack()
        self._pool = None
        self._batch: tuple[int, Labelling] | None = None

    def __enter__(self) -> "BackgroundLabels":
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()  # kills calls in flight on an interrupt; they are asked again

    def coming(self, progress: dict) -> bool:
        """Whether labels of the pending selection are still coming (asked on the first look)."""
        ctx = self.ctx
        latest = committed_generation(progress)
        if not ctx.config.active_learning.asynchronous or latest is None or \
                progress.get("pending_selection") != latest:
            return False
        if self._batch is None or self._batch[0] != latest:
            if self._pool is None:
                self._pool = self._stack.enter_context(open_pool(ctx.config.oracle,
                                                                 ctx.run.oracle_calls))
            batch = Labelling(read_structures(ctx.run.selection(latest)), ctx.ledger,
                              ctx.config.oracle, ctx.run.oracle_calls, f"gen-{latest:04d}",
                              self._pool)
            self._batch = (latest, batch)
            logger.info("  labelling the selection of generation %d (%d calls) while the "
                        "walkers explore on", latest, batch.calls)
        batch = self._batch[1]
        if not batch.collect(timeout=0):
            return True
        progress["broke"] = []  # the next generation is about to be trained
        logger.info("  labels of generation %d's selection are in: %s", latest,
                    batch.report.summary())
        return False

    def collect(self) -> None:
        """Record the pending selection's outcomes that are in, and start its next calls."""
        self._batch[1].collect(timeout=0)

    def wait(self) -> None:
        """Wait for the rest of the pending selection's labels."""
        logger.info("  every walker broke with this generation: waiting for the labels")
        self._batch[1].collect()


def _together(breaks: list[MDResult]) -> MDResult:
    """The breaks of walkers that ran at once, as one: every candidate, the first's break."""
    if len(breaks) == 1:
        return breaks[0]
    first = breaks[0]
    return MDResult(steps=sum(result.steps for result in breaks), halted=True,
                    break_step=first.break_step,
                    max_grade=max(result.max_grade for result in breaks),
                    candidates=[atoms for result in breaks for atoms in result.candidates],
                    restart=first.restart,
                    off_volume=next((r.off_volume for r in breaks if r.off_volume is not None),
                                    None))


def handle_break(ctx: Context, phase: Phase, generation: int, potential: Potential,
                 result: MDResult, progress: dict) -> None:
    """Select and save the selection, then commit the break with the caller's changes to
    `progress` in one write of state.json; labelling and training follow in
    `current_generation`, so a kill anywhere after the commit resumes with them."""
    candidates = [atoms for atoms in result.candidates if not _unphysical(ctx, atoms)]
    if len(candidates) < len(result.candidates):
        logger.info("  %d candidates dropped: atoms collided (closer than %.2f x their covalent "
                    "radii, or than potential.min_dist)",
                    len(result.candidates) - len(candidates), COLLISION_FRACTION)
    max_new = ctx.config.active_learning.max_new
    # a frame off the data's volumes is labelled whatever its grade, which cannot see density
    off_volume = result.off_volume
    forced = [off_volume] if off_volume is not None and not _unphysical(ctx, off_volume) else []
    candidates = [atoms for atoms in candidates if atoms is not off_volume]
    # frames kept while the last selection was labelled, if this potential cannot describe them
    kept, _ = harvest.graded(ctx, progress, potential, ctx.config.active_learning.select_threshold)
    candidates += kept
    chosen = potential.select(candidates, max_new - len(forced)) if candidates else []
    selected = write_structures(ctx.run.selection(generation),
                                forced + [candidates[i] for i in chosen])
    logger.info("  selected %d of %d candidates%s%s", len(selected),
                len(candidates) + len(forced), " (1 off the data's volumes)" if forced else "",
                f" ({len(kept)} kept while labelling)" if kept else "")
    released = harvest.release(ctx, progress)
    progress["breaks"] += 1
    progress["breaks_in_phase"] += 1
    progress["md_fs_without_break"] = 0.0
    progress["pending_selection"] = generation
    _record(progress, generation, md_ps=result.steps * phase.timestep / 1e3,
            break_step=result.break_step, break_grade=float(result.max_grade),
            selected=len(selected))
    save_progress(ctx, progress)
    for path in released:  # used by the selection just committed
        path.unlink(missing_ok=True)
    checkpoint("select")


def _check_stuck(phase: Phase, progress: dict) -> None:
    if progress["stuck"] >= STUCK_LIMIT:
        raise StageFailed(f"phase {phase.name}: {STUCK_LIMIT} breaks in a row gave no new label "
                          "(the oracle fails on them, or MD explodes before any candidate)")


def save_learned_cells(ctx: Context) -> list[Atoms]:
    """Write each walker's restart point in the campaign's last MD phase to learned.extxyz."""
    progress = learning_progress(ctx)
    cells = [_restart(ctx, ctx.config.md.phases, walker, progress)
             for walker in range(ctx.config.active_learning.walkers)]
    return write_structures(ctx.run.learned_cells, cells)


# --- restart points ----------------------------------------------------------------------------
RESTARTS_KEPT = 3  # per walker and phase: what state.json and its backup can point to, and one


def set_restart(ctx: Context, progress: dict, phase: str, walker: int, atoms: Atoms,
                segment: int | str) -> None:
    """Save a walker's new restart point under a name of its own and point `progress` at it;
    the caller's next save_progress commits it (until then a resume uses the old one)."""
    path = ctx.run.restart_point(phase, walker, segment)
    write_structures(path, [atoms])
    progress.setdefault("restarts", {}).setdefault(phase, {})[str(walker)] = \
        ctx.run.relative(path)
    for stale in ctx.run.restart_points(phase, walker)[RESTARTS_KEPT:]:
        stale.unlink()


def _restart(ctx: Context, phases: list[Phase], walker: int, progress: dict) -> Atoms:
    """Where a walker's next MD starts: its restart point in the last of `phases`, else in the
    latest phase before, else its initial structure (walker k starts from structure k, cyclically).
    """
    restarts = progress.get("restarts", {})
    for phase in reversed(phases):
        relative = restarts.get(phase.name, {}).get(str(walker))
        if relative is None:
            continue
        path = ctx.run.resolve(relative)
        older = [p for p in ctx.run.restart_points(phase.name, walker) if p != path]
        for candidate in [path] + older:
            try:
                return read_structures(candidate)[-1]
            except Exception as error:  # damaged: an older point is the best left
                logger.warning("restart point %s is unreadable (%s); trying an older one",
                               candidate, error)
    initial = ctx.initial_structures()
    return initial[walker % len(initial)]


# --- generations -------------------------------------------------------------------------------
def current_generation(ctx: Context, phase: Phase, progress: dict) -> tuple[int, Potential]:
    """The potential to explore with: the latest, or a new one if its break's selection awaits
    labels, or if the phase fits with other weights."""
    latest = committed_generation(progress)
    if latest is None:
        return 0, train_generation(ctx, 0, phase, progress)
    if progress.get("pending_selection") == latest:
        # the break of `latest` has been committed: label its selection (what the ledger lacks)
        selected = read_structures(ctx.run.selection(latest))
        report = label(selected, ctx.ledger, ctx.config.oracle, ctx.run.oracle_calls,
                       f"gen-{latest:04d}")
        logger.info("  labelled the selection of generation %d: %s", latest, report.summary())
        return latest + 1, train_generation(ctx, latest + 1, phase, progress)
    trained_with = progress["generations"][str(latest)].get("weights")
    if trained_with is not None and trained_with != _weights(ctx.config, phase):
        logger.info("phase %s fits with other weights: training a new generation", phase.name)
        return latest + 1, train_generation(ctx, latest + 1, phase, progress)
    return latest, load_generation(ctx, latest)


def training_data(ctx: Context, generation: int) -> list[Atoms]:
    """What generation N of this campaign trains on (lotf.generations.training_labels)."""
    oracle = oracle_id(fingerprint(ctx.config.oracle.calculator, ctx.config.oracle.params))
    return training_labels(ctx.ledger, oracle, generation)


def train_generation(ctx: Context, generation: int, phase: Phase | None,
                     progress: dict) -> Potential:
    """Fit generation N on everything labelled for it, save it whole, then commit it (and
    clear the selection it answers) in state.json; returns it as loaded from disk, which is
    what a resumed campaign explores with."""
    weights = _weights(ctx.config, phase)
    facts = _fit_and_save(ctx, generation, weights)
    if progress.get("pending_selection") == generation - 1:  # a break's labels came in, or not
        before = progress["generations"].get(str(generation - 1), {}).get("trained_on")
        progress["stuck"] = progress["stuck"] + 1 if before == facts["trained_on"] else 0
        progress["pending_selection"] = None
    _record(progress, generation, **facts, oracle_calls=ctx.ledger.call_counts()["total"])
    save_progress(ctx, progress, generation=generation)
    checkpoint("generation")
    return load(ctx.run.generation_dir(generation))


def load_generation(ctx: Context, generation: int) -> Potential:
    """A saved generation; one whose files are damaged is retrained from the ledger (the same
    data, seed and weights, so the same potential) and saved again."""
    try:
        return load(ctx.run.generation_dir(generation))
    except Exception as error:  # a truncated or missing file, whatever the parser says
        logger.warning("potential %s is damaged (%s): retraining it from the ledger",
                       ctx.run.generation_dir(generation), error)
    record = learning_progress(ctx)["generations"].get(str(generation), {})
    _fit_and_save(ctx, generation, record.get("weights") or _weights(ctx.config, None))
    return load(ctx.run.generation_dir(generation))


def repair_generations(ctx: Context) -> list[int]:
    """Retrain every committed generation whose files cannot be loaded; their numbers."""
    repaired = []
    for generation in committed_generations(learning_progress(ctx)):
        try:
            load(ctx.run.generation_dir(generation))
        except Exception:  # damaged: load_generation says so and retrains it
            load_generation(ctx, generation)
            repaired.append(generation)
    return repaired


def _fit_and_save(ctx: Context, generation: int, weights: dict[str, float]) -> dict:
    """Fit generation N on its training data and save it; returns the facts to record."""
    refuse_new("a fit")
    config = ctx.config
    data = training_data(ctx, generation)
    if not data:
        raise StageFailed("no labelled data to train on: run the bootstrap stage first")
    settings = config.potential
    # the radial basis must cover every labelled distance (collisions are never labelled)
    min_dist = settings.min_dist or MIN_DIST_MARGIN * shortest_distance(data, settings.cutoff)
    schedule = FitSchedule(settings.fit_steps, settings.fit_holdout, settings.fit_patience,
                           settings.fit_ridge)
    potential = create(config.system.species, backend=settings.backend, level=settings.level,
                       cutoff=settings.cutoff,
                       min_dist=min_dist, radial_basis_size=settings.radial_basis_size,
                       seed=config.seed + generation, schedule=schedule)
    start = _warm_start(ctx, generation, potential)
    clock = time.perf_counter()
    potential.fit(data, weights, seed=config.seed + generation, start=start)
    try:
        potential.update_active_set(data, config.active_learning.grade_mode)
    except ValueError as reason:  # too few rows, or rows that span too little
        raise StageFailed(f"generation {generation}: no active set ({reason}); label more "
                          "varied structures first (bootstrap.count) or lower potential.level") \
            from None
    errors = potential.errors(data)
    seconds = time.perf_counter() - clock
    checkpoint("train")
    ctx.run.save_generation(generation, potential.save)
    how = potential.last_fit
    how = "" if how is None else (f"; {how.iterations} L-BFGS iterations, kept {how.best_iteration}"
                                  f"{' (early stop)' if how.stopped_early else ''}")
    logger.info("generation %d: trained on %d structures in %.1f s (%s%s); RMSE %.2f meV/atom, "
                "%.3f eV/Å", generation, len(data), seconds,
                "from the previous generation" if start is not None else "from a pair start", how,
                errors["energy_rmse_mev_per_atom"], errors["forces_rmse_ev_per_a"])
    return dict(train_rmse=errors, trained_on=len(data), weights=weights,
                min_dist=round(min_dist, 4), volume_per_atom=volumes_per_atom(data),
                fit_seconds=round(seconds, 1), warm_start=start is not None)


def _warm_start(ctx: Context, generation: int, potential: Potential) -> np.ndarray | None:
    """Generation N-1's coefficients for generation N's fit, if warm starts are on and the two
    have the same form (any generation is retrained exactly: N-1 is on disk, or retrained)."""
    settings = ctx.config.potential
    if not settings.warm_start or settings.fit_steps == 0 or generation == 0:
        return None  # least squares alone re-fits only the linear part: start from the pair fit
    if generation - 1 not in committed_generations(learning_progress(ctx)):
        return None
    start = load_generation(ctx, generation - 1).parameters()
    mine = potential.parameters()
    if start is None or mine is None or start.shape != mine.shape:
        return None
    return start


def break_description(result: MDResult) -> str:
    """', break at step N' and why, for the log; empty for a clean run."""
    if not result.halted:
        return ""
    if result.off_volume is not None and result.off_volume.info["step"] == result.break_step:
        volume = result.off_volume.get_volume() / len(result.off_volume)
        return f", break at step {result.break_step} (volume {volume:.2f} Å³/atom, off the data's)"
    return f", break at step {result.break_step}"


def _weights(config: Campaign, phase: Phase | None) -> dict[str, float]:
    """The fit weights of a phase: its own, else the potential's."""
    return ((phase and phase.weights) or config.potential.weights).model_dump()


def _unphysical(ctx: Context, atoms: Atoms) -> bool:
    """The debris of an exploding step: a pair closer than COLLISION_FRACTION of its covalent
    radii, or than the min_dist the user fixed. Never labelled (the oracle would fail or,
    worse, answer); hot liquids' close contacts above that are labelled and learned."""
    radii = covalent_radii[atoms.numbers]
    first, second, distances = neighbor_list("ijd", atoms, 2 * radii.max())
    limits = COLLISION_FRACTION * (radii[first] + radii[second])
    if ctx.config.potential.min_dist is not None:
        limits = np.maximum(limits, ctx.config.potential.min_dist)
    return bool(np.any(distances < limits))


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


# --- MD inputs -------------------------------------------------------------------------------
def _volume_range(config: Campaign, phase: Phase, progress: dict,
                  generation: int) -> tuple[float, float] | None:
    """Where NPT MD may go on this generation: its data's volumes per atom, widened by
    `active_learning.volume_margin`; None for other ensembles (their volume is set)."""
    margin = config.active_learning.volume_margin
    volumes = progress["generations"].get(str(generation), {}).get("volume_per_atom")
    if not ensemble(phase.ensemble).volume_changes or margin is None or volumes is None:
        return None
    return volumes[0] / (1 + margin), volumes[1] * (1 + margin)


def md_settings(config: Campaign, phase: Phase, steps: int, progress: dict,
                generation: int, segment: int | None = None) -> MDSettings:
    """An MD run of a phase on a generation: its thermostat, the campaign's thresholds, a
    seed per segment (default: the next), and in NPT the volumes the generation's data cover."""
    segment = progress["segments"] if segment is None else segment
    temperature = phase.temperature if isinstance(phase.temperature, tuple) else \
        (phase.temperature, phase.temperature)
    return MDSettings(
        ensemble=phase.ensemble, temperature=tuple(float(t) for t in temperature), steps=steps,
        timestep_fs=phase.timestep, pressure_bar=phase.pressure,
        seed=int(np.random.default_rng([config.seed, segment]).integers(1, 2**31 - 1)),
        select_threshold=config.active_learning.select_threshold,
        break_threshold=config.active_learning.break_threshold,
        dump_every=config.md.dump_every, coupling=config.md.coupling, ranks=config.md.ranks,
        barostat=phase.barostat or config.md.barostat,
        volume_range=_volume_range(config, phase, progress, generation))


def final_trajectories(ctx: Context, phase: str, walker: int | None = None
                       ) -> tuple[int | None, list[Path]]:
    """The last generation that ran MD in `phase` and its trajectory files in segment order
    (of one walker if given): the phase's converged, clean run. (None, []) if there is none."""
    generations = {int(path.name.split("-")[1]) for path in ctx.run.trajectories(phase)}
    if not generations:
        return None, []
    final = max(generations)
    return final, ctx.run.trajectories(phase, final, walker)


def _trajectory(ctx: Context, phase: Phase, generation: int, segment: int,
                walker: int) -> Path | None:
    if not ctx.config.md.dump_every:
        return None
    return ctx.run.trajectory(phase.name, generation, segment, walker)


# --- progress in state.json ------------------------------------------------------------------
def learning_progress(ctx: Context) -> dict:
    """The learning loop's progress from state.json, with defaults for a fresh run."""
    defaults = {"phase": 0, "md_fs_without_break": 0.0, "walker_fs_without_break": [],
                "breaks": 0, "breaks_in_phase": 0,
                "segments": 0, "stuck": 0, "generations": {}, "converged_phases": {},
                "pending_selection": None, "restarts": {}, "harvest": [], "broke": []}
    return {**defaults, **ctx.run.read_state().get("learn", {})}


def _record(progress: dict, generation: int, md_ps: float = 0.0, **facts) -> None:
    entry = progress["generations"].setdefault(str(generation), {"md_ps": 0.0})
    entry["md_ps"] = round(entry["md_ps"] + md_ps, 6)
    entry.update(facts)


def save_progress(ctx: Context, progress: dict, generation: int | None = None) -> None:
    """Write the learning progress (and the latest generation) into state.json."""
    state = ctx.run.read_state()
    state["learn"] = progress
    if generation is not None:
        state["generation"] = generation
    ctx.run.write_state(state)
