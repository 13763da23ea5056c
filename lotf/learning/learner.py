"""The learning-on-the-fly controller: train, explore, select, label, retrain, until MD runs clean.

A `Learner` owns a campaign's learning: its typed state (lotf.learning.state), the potential
of each generation (trained on the ledger's labels, saved whole, loaded back), and the MD that
explores with it under grade watch. Stages use only its public methods: `converge` runs MD
phases to convergence; `potential_for`, `explore` and `learn_from` are the same loop for one
MD run at a time (a protocol's chunk); `generation`, `train`, `final_trajectories`,
`start_walker` and `save_learned_cells` serve the stages that read or extend what it learned.

For each MD phase in turn: MTP-MD in segments of the phase's `length`, by one or several
independent walkers (each from its own initial structure, with its own restart point): in each
round every walker short of convergence runs a segment with the same generation (at once on an
MPI job's MD groups, else in turn, so a serial run and a parallel one learn alike), and the
round's breaks are learned from together. A segment without a break moves that walker's
restart point forward and adds to its time without a break; a break (grade above the break
threshold, or in NPT a volume per atom off the training data's range) selects at most
`max_new` D-optimal candidates (and the frame off the volumes, whatever its grade), labels
them, trains the next generation, sets every walker's clean time to zero (the potential
changed) and restarts the walker from its last frame under the select threshold. The phase
converges once every walker has run `converge_after` without a break.

With `active_learning.asynchronous`, a break's selection is labelled in the background while
the walkers that have not broken with that generation explore on with it; what they find is
kept (lotf.learning.harvest) and joins the next selection, or is that selection at once if it
already breaks the new generation. Clean time counts only on the newest generation with no
labels coming, so the convergence rule is the same.

Everything that costs is on disk before the next step needs it, so a kill at any moment
resumes here: potentials by generation (written whole), the selected structures of each
break (before labelling), the restart structure of each phase, and the state in state.json.
"""

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

import lotf.learning.convergence_check as convergence_check
import lotf.learning.harvest as harvest
from lotf.config import Campaign, Phase
from lotf.context import Context
from lotf.errors import StageFailed
from lotf.faults import checkpoint
from lotf.labelling import label
from lotf.learning.background import BackgroundLabels
from lotf.learning.state import LearningState
from lotf.learning.training import fit_and_save, new_potential, training_data
from lotf.log import logger
from lotf.md.ensembles import ensemble
from lotf.md.groups import MDJob
from lotf.md.run import MDResult, MDSettings, run_md, run_md_many
from lotf.potential import Potential, load
from lotf.store import read_structures, write_structures

COLLISION_FRACTION = 0.5  # pairs closer than this fraction of their covalent radii have collided
STUCK_LIMIT = 5  # breaks in a row that add no new label before giving up
RESTARTS_KEPT = 3  # per walker and phase: what state.json and its backup can point to, and one


class Learner:
    """A campaign's learning: its saved state, its generations, its grade-watched MD."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.state = LearningState.read(ctx.run)

    # --- the loop over MD phases -------------------------------------------------------------
    def converge(self, phases: list[Phase] | None = None) -> dict:
        """Run the MD phases (default: the campaign's) to convergence, in order, skipping those
        converged before (by name); return a summary for the stage. A walker starts a phase
        from its restart point in the latest of `phases` before it that has one, so a later
        stage passes the campaign's phases and then its own (the diffusion temperatures)."""
        phases = self.ctx.config.md.phases if phases is None else phases
        for index, phase in enumerate(phases):
            if phase.name in self.state.converged_phases | self.state.unconverged_phases:
                continue
            self.state.current = phase.name
            converged = self._learn_phase(phases, index)
            while converged and not self._checked(phase):
                converged = self._learn_phase(phases, index)
            progress = self.state.phases.pop(phase.name)
            if converged:
                self.state.converged_phases[phase.name] = \
                    min(progress.walker_fs_without_break) / 1e3
            else:
                self.state.unconverged_phases[phase.name] = self.state.latest()
            self.state.stuck = 0
            # frames kept while the last labels came: the final potential ran clean, and none
            # of them broke it when it was trained (harvest.graded)
            released = harvest.release(self.ctx, self.state)
            self.save()
            for path in released:
                path.unlink(missing_ok=True)
        run = self.ctx.run
        state = run.read_state()
        state["converged"] = not self.state.unconverged_phases
        run.write_state(state)
        generation = run.latest_generation()
        logger.info("%s: potential %s", "converged" if state["converged"] else "learning ended",
                    run.generation_dir(generation))
        summary = {"generation": generation, "breaks": self.state.breaks}
        if self.state.checks:
            summary["checks"] = self.state.checks
        if self.state.unconverged_phases:
            summary["unconverged"] = self.state.unconverged_phases
        flags = self.check_flags() + self.unconverged_flags()
        for text in flags:
            logger.warning("%s", text)
        if flags:
            summary["flags"] = flags
        return summary

    def check_flags(self) -> list[str]:
        """A plain sentence for each phase whose checks against the oracle all missed."""
        return [text for name, rounds in self.state.checks.items()
                if (text := convergence_check.flag(name, rounds)) is not None]

    def unconverged_flags(self) -> list[str]:
        """A plain sentence for each phase ended by active_learning.max_iterations."""
        limit = self.ctx.config.active_learning.max_iterations
        return [f"phase {phase} did not converge: it learned from its {limit} breaks "
                f"(active_learning.max_iterations) and ended on generation {generation}, trained "
                "on the last break's labels and never run in it; what follows rests on a "
                "potential that did not converge there"
                for phase, generation in self.state.unconverged_phases.items()]

    def _checked(self, phase: Phase) -> bool:
        """Whether a phase converged by the grade may end: no check asked, or a check against
        the oracle passed, or its rounds are spent. A miss makes the checked frames the
        generation's selection (the next generation trains on them) and every walker's clean
        time starts again, committed at once."""
        check = self.ctx.config.active_learning.check
        if check is None:
            return True
        generation = self.state.latest()
        rounds = self.state.checks.setdefault(phase.name, [])
        result, frames = convergence_check.check_phase(
            self.ctx, phase, generation, self.generation(generation),
            self.ctx.run.trajectories(phase.name, generation), len(rounds))
        rounds.append(result)  # committed with the phase's convergence, or below
        if result["passed"] or len(rounds) >= check.rounds:
            return True
        write_structures(self.ctx.run.selection(generation), frames)
        self.state.pending_selection = generation
        walkers = self.ctx.config.active_learning.walkers
        self.state.phase(phase.name).walker_fs_without_break = [0.0] * walkers
        self.save()
        checkpoint("check")
        logger.info("  the checked frames train generation %d; phase %s learns on", generation + 1,
                    phase.name)
        return False

    def _learn_phase(self, phases: list[Phase], index: int) -> bool:
        """Learn until every walker of the phase ran `converge_after` clean (True), or until
        the phase has learned from `max_iterations` breaks and may go on unconverged (False);
        with `on_max_iterations: stop` that is an error."""
        config, phase = self.ctx.config, phases[index]
        converge_fs = phase.converge_after or config.active_learning.converge_after
        walkers = config.active_learning.walkers
        progress = self.state.phase(phase.name)
        if len(progress.walker_fs_without_break) != walkers:  # new, or the walkers changed
            progress.walker_fs_without_break = [0.0] * walkers
        clean = progress.walker_fs_without_break
        with BackgroundLabels(self.ctx) as background:
            while min(clean) < converge_fs - 1e-6:
                self._check_stuck(phase)
                if background.coming(self.state, phase.name):
                    if not self._explore_while_labelling(phases, index, background.collect):
                        background.wait()
                    continue
                generation, potential = self.potential_for(phase)  # trained on every label
                if progress.breaks >= config.active_learning.max_iterations:
                    if config.active_learning.on_max_iterations == "stop":
                        raise StageFailed(f"phase {phase.name}: {progress.breaks} breaks without "
                                          "converging (active_learning.max_iterations)")
                    logger.warning("phase %s: %d breaks without converging "
                                   "(active_learning.max_iterations); it ends unconverged on "
                                   "generation %d", phase.name, progress.breaks, generation)
                    return False
                if config.active_learning.asynchronous and self._known_break(phase, generation,
                                                                             potential):
                    clean = progress.walker_fs_without_break
                    continue
                order = [w for w in range(walkers) if clean[w] < converge_fs - 1e-6]
                breaks = self._round(phases, index, generation, potential, order, clean)
                if breaks:
                    clean = [0.0] * walkers
                    progress.walker_fs_without_break = clean
                    progress.broke = sorted(breaks)  # they wait for the next generation
                    self.learn_from(phase, generation, potential,
                                    _together(list(breaks.values())))
        return True

    def _round(self, phases: list[Phase], index: int, generation: int, potential: Potential,
               order: list[int], clean: list[float] | None,
               meanwhile: Callable[[], object] | None = None) -> dict[int, MDResult]:
        """One MD segment for each walker in `order` (at once on the MD groups, else in turn):
        their restart points move on and, given `clean`, their clean time grows (committed
        per segment); returns the runs that broke by walker, whose break the caller handles.
        `meanwhile` is called while the MD runs."""
        config, phase = self.ctx.config, phases[index]
        converge_fs = phase.converge_after or config.active_learning.converge_after
        walkers = config.active_learning.walkers
        jobs, segments = [], []
        for offset, walker in enumerate(order):
            start = self._restart(phases[: index + 1], walker)
            done = 0.0 if clean is None else clean[walker]
            steps = max(1, round(min(phase.length, converge_fs - done) / phase.timestep))
            segment = self.state.segments + offset
            logger.info("phase %s, generation %d: MD segment %d%s, %d steps (%s)", phase.name,
                        generation, segment, f" of walker {walker}" if walkers > 1 else "",
                        steps, f"{done / 1e3:.1f} ps without a break" if clean is not None
                        else "exploring while the labels come")
            settings = md_settings(self.ctx.config, phase, steps, self.state, generation, segment)
            logger.debug("  velocity seed %d (new velocities only if the start has none)",
                         settings.seed)
            jobs.append(MDJob(start, settings,
                              self._trajectory(phase, generation, segment, walker)))
            segments.append((int(walker), segment))
        clock = time.perf_counter()
        results = run_md_many(potential, jobs, meanwhile)
        breaks = {}
        for (walker, segment), job, result in zip(segments, jobs, results, strict=True):
            checkpoint("segment")
            self.state.segments = segment + 1
            logger.info("  %s%d steps in %.1f s, max grade %.3g%s",
                        f"walker {walker}: " if len(jobs) > 1 else "", result.steps,
                        time.perf_counter() - clock, result.max_grade, break_description(result))
            if result.restart is not None:
                self._set_restart(phase.name, walker, result.restart, segment)
            if result.halted:
                breaks[walker] = result
                continue
            if clean is not None:
                clean[walker] += result.steps * phase.timestep
            self.state.record(generation, md_ps=result.steps * phase.timestep / 1e3,
                              last_seed=job.settings.seed)
            self.save()
        return breaks

    def _explore_while_labelling(self, phases: list[Phase], index: int,
                                 collect: Callable[[], object]) -> bool:
        """A round of MD with the generation whose selection is being labelled, by the walkers
        that have not broken with it (in turn); what breaks is kept for the next selection, and
        that walker waits for the next generation (more MD from its point would find the
        same). Clean time is not credited: a new potential is coming. `collect` takes the
        outcomes that are in while the MD runs, so the oracle's workers get their next calls.
        False if every walker waits."""
        generation = self.state.latest()
        progress = self.state.phase(phases[index].name)
        walkers = self.ctx.config.active_learning.walkers
        order = [int(w) for w in np.roll(np.arange(walkers), -self.state.segments)
                 if int(w) not in progress.broke]
        if not order:
            return False
        potential = self.generation(generation)
        breaks = self._round(phases, index, generation, potential, order, None, collect)
        found = []
        for result in breaks.values():
            self.state.record(generation, md_ps=result.steps * phases[index].timestep / 1e3)
            candidates = [atoms for atoms in result.candidates + [result.off_volume]
                          if atoms is not None and not self._unphysical(atoms)]
            # what a selection of this break alone would take: the harvest stays small
            chosen = potential.select(candidates, self.ctx.config.active_learning.max_new) \
                if candidates else []
            found += [candidates[i] for i in chosen]
        progress.broke = sorted(progress.broke + list(breaks))
        if found:
            harvest.add(self.ctx, self.state, generation, found)
            logger.info("  %d candidates kept for the next selection", len(found))
        self.save()
        return True

    def _known_break(self, phase: Phase, generation: int, potential: Potential) -> bool:
        """Whether frames kept while labelling already break the new generation: then that is
        its break (handled, with those frames to select from), with no MD needed to find it."""
        threshold = self.ctx.config.active_learning.break_threshold
        above, highest = harvest.graded(self.ctx, self.state, potential, threshold)
        if not above:
            return False
        logger.info("phase %s, generation %d: %d frames kept while labelling grade above %g "
                    "(up to %.3g): a break without MD", phase.name, generation, len(above),
                    threshold, highest)
        walkers = self.ctx.config.active_learning.walkers
        self.state.phase(phase.name).walker_fs_without_break = [0.0] * walkers
        self.learn_from(phase, generation, potential,
                        MDResult(steps=0, halted=True, break_step=None, max_grade=highest,
                                 candidates=[], restart=None))
        return True

    def _check_stuck(self, phase: Phase) -> None:
        if self.state.stuck >= STUCK_LIMIT:
            raise StageFailed(f"phase {phase.name}: {STUCK_LIMIT} breaks in a row gave no new "
                              "label (the oracle fails on them, or MD explodes before any "
                              "candidate)")

    # --- one MD run at a time: a protocol's chunk --------------------------------------------
    def explore(self, phase: Phase, generation: int, potential: Potential, start: Atoms,
                steps: int, trajectory: Path | None = None) -> MDResult:
        """One MD run of `steps` from `start` with `generation` (its `potential`) under grade
        watch, seeded by the learner's count of runs, which it advances; the caller commits."""
        settings = md_settings(self.ctx.config, phase, steps, self.state, generation)
        result = run_md(potential, start, settings, trajectory=trajectory)
        self.state.segments += 1
        return result

    def learn_from(self, phase: Phase, generation: int, potential: Potential,
                   result: MDResult) -> None:
        """A break: select and save the selection, then commit it with the caller's changes
        to the state in one write of state.json; labelling and training follow in
        `potential_for`, so a kill anywhere after the commit resumes with them."""
        ctx = self.ctx
        candidates = [atoms for atoms in result.candidates if not self._unphysical(atoms)]
        if len(candidates) < len(result.candidates):
            logger.info("  %d candidates dropped: atoms collided (closer than %.2f x their "
                        "covalent radii, or than potential.min_dist)",
                        len(result.candidates) - len(candidates), COLLISION_FRACTION)
        max_new = ctx.config.active_learning.max_new
        # a frame off the data's volumes is labelled whatever its grade, which cannot see density
        off_volume = result.off_volume
        forced = [off_volume] if off_volume is not None and not self._unphysical(off_volume) \
            else []
        candidates = [atoms for atoms in candidates if atoms is not off_volume]
        # frames kept while the last selection was labelled, if this potential cannot describe them
        kept, _ = harvest.graded(ctx, self.state, potential,
                                 ctx.config.active_learning.select_threshold)
        candidates += kept
        chosen = potential.select(candidates, max_new - len(forced)) if candidates else []
        selected = write_structures(ctx.run.selection(generation),
                                    forced + [candidates[i] for i in chosen])
        logger.info("  selected %d of %d candidates%s%s", len(selected),
                    len(candidates) + len(forced), " (1 off the data's volumes)" if forced else "",
                    f" ({len(kept)} kept while labelling)" if kept else "")
        released = harvest.release(ctx, self.state)
        self.state.breaks += 1
        if phase.name in self.state.phases:  # a phase under way (not a protocol's chunk)
            self.state.phases[phase.name].breaks += 1
        self.state.pending_selection = generation
        self.state.record(generation, md_ps=result.steps * phase.timestep / 1e3,
                          break_step=result.break_step, break_grade=float(result.max_grade),
                          selected=len(selected))
        self.save()
        for path in released:  # used by the selection just committed
            path.unlink(missing_ok=True)
        checkpoint("select")

    # --- generations -------------------------------------------------------------------------
    def potential_for(self, phase: Phase | None) -> tuple[int, Potential]:
        """The generation to explore `phase` with, and its potential: the latest, or a new one
        if its break's selection awaits labels, or if the phase fits with other weights."""
        ctx, latest = self.ctx, self.state.latest()
        if latest is None:
            return 0, self.train(0, phase)
        if self.state.pending_selection == latest:
            # the break of `latest` has been committed: label its selection (what the ledger lacks)
            selected = read_structures(ctx.run.selection(latest))
            report = label(selected, ctx.ledger, ctx.config.oracle, ctx.run.oracle_calls,
                           f"gen-{latest:04d}")
            logger.info("  labelled the selection of generation %d: %s", latest,
                        report.summary())
            return latest + 1, self.train(latest + 1, phase)
        trained_with = self.state.generations[str(latest)].weights
        if trained_with is not None and trained_with != _weights(ctx, phase):
            logger.info("phase %s fits with other weights: training a new generation",
                        phase.name)
            return latest + 1, self.train(latest + 1, phase)
        return latest, self.generation(latest)

    def train(self, generation: int, phase: Phase | None = None) -> Potential:
        """Fit generation N on everything labelled for it, save it whole, then commit it (and
        clear the selection it answers) in state.json; returns it as loaded from disk, which
        is what a resumed campaign explores with."""
        facts = self._fit_and_save(generation, _weights(self.ctx, phase))
        if self.state.pending_selection == generation - 1:  # a break's labels came in, or not
            before = self.state.generations.get(str(generation - 1))
            self.state.stuck = self.state.stuck + 1 \
                if before is not None and before.trained_on == facts["trained_on"] else 0
            self.state.pending_selection = None
        self.state.record(generation, **facts,
                          oracle_calls=self.ctx.ledger.call_counts()["total"])
        self.save(generation=generation)
        checkpoint("generation")
        return load(self.ctx.run.generation_dir(generation))

    def generation(self, number: int) -> Potential:
        """A saved generation; one whose files are damaged is retrained from the ledger (the
        same data, seed and weights, so the same potential) and saved again."""
        try:
            return load(self.ctx.run.generation_dir(number))
        except Exception as error:  # a truncated or missing file, whatever the parser says
            logger.warning("potential %s is damaged (%s): retraining it from the ledger",
                           self.ctx.run.generation_dir(number), error)
        record = self.state.generations.get(str(number))
        weights = record.weights if record is not None and record.weights else \
            _weights(self.ctx, None)
        self._fit_and_save(number, weights)
        return load(self.ctx.run.generation_dir(number))

    def repair(self) -> list[int]:
        """Retrain every committed generation whose files cannot be loaded; their numbers."""
        repaired = []
        for number in self.state.committed():
            try:
                load(self.ctx.run.generation_dir(number))
            except Exception:  # damaged: `generation` says so and retrains it
                self.generation(number)
                repaired.append(number)
        return repaired

    def _fit_and_save(self, generation: int, weights: dict[str, float]) -> dict:
        """Fit generation N on its training data and save it; returns the facts to record."""
        data = training_data(self.ctx, generation)
        if not data:
            raise StageFailed("no labelled data to train on: run the bootstrap stage first")
        potential = new_potential(self.ctx, generation, data)
        return fit_and_save(self.ctx, generation, weights, data, potential,
                            self._warm_start(generation, potential))

    def _warm_start(self, generation: int, potential: Potential) -> np.ndarray | None:
        """Generation N-1's coefficients for generation N's fit, if warm starts are on and the
        two have the same form (any generation is retrained exactly: N-1 is on disk, or
        retrained)."""
        settings = self.ctx.config.potential
        if not settings.warm_start or settings.fit_steps == 0 or generation == 0:
            return None  # least squares alone re-fits only the linear part: start from the pair fit
        if generation - 1 not in self.state.committed():
            return None
        start = self.generation(generation - 1).parameters()
        mine = potential.parameters()
        if start is None or mine is None or start.shape != mine.shape:
            return None
        return start

    # --- restart points and what the learned MD left -----------------------------------------
    def start_walker(self, phase: str, walker: int, atoms: Atoms, label: str) -> None:
        """Give a walker its first restart point in a phase (e.g. a glass to run a diffusion
        temperature in), committed at once; `label` names the file."""
        self._set_restart(phase, walker, atoms, label)
        self.save()

    def started(self, phase: str) -> set[int]:
        """The walkers with a restart point in a phase."""
        return {int(walker) for walker in self.state.restarts.get(phase, {})}

    def _set_restart(self, phase: str, walker: int, atoms: Atoms, segment: int | str) -> None:
        """Save a walker's new restart point under a name of its own and point the state at
        it; the next save commits it (until then a resume uses the old one)."""
        run = self.ctx.run
        path = run.restart_point(phase, walker, segment)
        write_structures(path, [atoms])
        self.state.restarts.setdefault(phase, {})[str(walker)] = run.relative(path)
        for stale in run.restart_points(phase, walker)[RESTARTS_KEPT:]:
            stale.unlink()

    def _restart(self, phases: list[Phase], walker: int) -> Atoms:
        """Where a walker's next MD starts: its restart point in the last of `phases`, else in
        the latest phase before, else its start (walker k from structure k, cyclically: the
        initial structure, or where its oracle-MD bootstrap ended)."""
        run = self.ctx.run
        for phase in reversed(phases):
            relative = self.state.restarts.get(phase.name, {}).get(str(walker))
            if relative is None:
                continue
            path = run.resolve(relative)
            older = [p for p in run.restart_points(phase.name, walker) if p != path]
            for candidate in [path] + older:
                try:
                    return read_structures(candidate)[-1]
                except Exception as error:  # damaged: an older point is the best left
                    logger.warning("restart point %s is unreadable (%s); trying an older one",
                                   candidate, error)
        starts = self.ctx.learning_starts()
        return starts[walker % len(starts)]

    def save_learned_cells(self) -> list[Atoms]:
        """Write each walker's restart point in the campaign's last MD phase to the run's
        learned cells (what a melt-quench, or another campaign, starts from)."""
        cells = [self._restart(self.ctx.config.md.phases, walker)
                 for walker in range(self.ctx.config.active_learning.walkers)]
        return write_structures(self.ctx.run.learned_cells, cells)

    def final_trajectories(self, phase: str, walker: int | None = None
                           ) -> tuple[int | None, list[Path]]:
        """The last generation that ran MD in `phase` and its trajectory files in segment order
        (of one walker if given): the phase's converged, clean run. (None, []) if none."""
        run = self.ctx.run
        generations = {int(path.name.split("-")[1]) for path in run.trajectories(phase)}
        if not generations:
            return None, []
        final = max(generations)
        return final, run.trajectories(phase, final, walker)

    def save(self, generation: int | None = None,
             also: Callable[[dict], None] | None = None) -> None:
        """Commit the state to state.json (with the newest generation, and `also`'s changes
        to the rest of the state in the same write)."""
        self.state.write(self.ctx.run, generation, also)

    def _trajectory(self, phase: Phase, generation: int, segment: int,
                    walker: int) -> Path | None:
        if not self.ctx.config.md.dump_every:
            return None
        return self.ctx.run.trajectory(phase.name, generation, segment, walker)

    def _unphysical(self, atoms: Atoms) -> bool:
        """The debris of an exploding step: a pair closer than COLLISION_FRACTION of its
        covalent radii, or than the min_dist the user fixed. Never labelled (the oracle would
        fail or, worse, answer); hot liquids' close contacts above that are learned."""
        radii = covalent_radii[atoms.numbers]
        first, second, distances = neighbor_list("ijd", atoms, 2 * radii.max())
        limits = COLLISION_FRACTION * (radii[first] + radii[second])
        if self.ctx.config.potential.min_dist is not None:
            limits = np.maximum(limits, self.ctx.config.potential.min_dist)
        return bool(np.any(distances < limits))


def md_settings(config: Campaign, phase: Phase, steps: int, state: LearningState,
                generation: int, segment: int | None = None) -> MDSettings:
    """An MD run of a phase on a generation: its thermostat, the campaign's thresholds, a seed
    per segment (default: the state's next), and in NPT the volumes the generation's data
    cover."""
    segment = state.segments if segment is None else segment
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
        volume_range=_volume_range(config, phase, state, generation))


def _volume_range(config: Campaign, phase: Phase, state: LearningState,
                  generation: int) -> tuple[float, float] | None:
    """Where NPT MD may go on this generation: its data's volumes per atom, widened by
    `active_learning.volume_margin`; None where the volume is set."""
    margin = config.active_learning.volume_margin
    record = state.generations.get(str(generation))
    volumes = record.volume_per_atom if record is not None else None
    if not ensemble(phase.ensemble).volume_changes or margin is None or volumes is None:
        return None
    return volumes[0] / (1 + margin), volumes[1] * (1 + margin)


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


def _weights(ctx: Context, phase: Phase | None) -> dict[str, float]:
    """The fit weights of a phase: its own, else the potential's."""
    return ((phase and phase.weights) or ctx.config.potential.weights).model_dump()


def break_description(result: MDResult) -> str:
    """', break at step N' and why, for the log; empty for a clean run."""
    if not result.halted:
        return ""
    if result.off_volume is not None and result.off_volume.info["step"] == result.break_step:
        volume = result.off_volume.get_volume() / len(result.off_volume)
        return f", break at step {result.break_step} (volume {volume:.2f} Å³/atom, off the data's)"
    return f", break at step {result.break_step}"
