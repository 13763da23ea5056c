"""Run a schedule (lotf.protocols.schedule) for each replica under grade watch.

Each chunk is one MD call with the current potential. A break sends the chunk's candidates to
the learning loop (select, label, retrain, exactly as in `learn`) and the chunk runs again from
its start state with the new potential; so the finished schedule ran wholly on potentials that
never extrapolated beyond the break threshold. After each clean chunk its end state, thermo
history and trajectory are on disk (protocols/<name>/replica-R/), and state.json counts it, so a
killed run resumes at the chunk it was in.
"""

import json

from ase import Atoms

from lotf.config import Phase
from lotf.context import Context
from lotf.errors import StageFailed
from lotf.faults import checkpoint
from lotf.learning.learner import Learner, break_description
from lotf.log import logger
from lotf.md.ensembles import ensemble
from lotf.protocols.schedule import Chunk, Step, chunks
from lotf.store import atomic_write, read_structures, write_structures


def run_protocol(ctx: Context, name: str, steps: list[Step], chunk_fs: float, timestep_fs: float,
                 replicas: list[Atoms]) -> list[Atoms]:
    """Every replica through every chunk of `steps`; returns each replica's final structure."""
    pieces = chunks(steps, chunk_fs, timestep_fs)
    finals = []
    for replica, initial in enumerate(replicas):
        for chunk in pieces[_chunks_done(ctx, name, replica):]:
            start = read_structures(ctx.run.chunk_state(name, replica, chunk.index - 1))[-1] \
                if chunk.index else initial
            _run_chunk(ctx, name, replica, chunk, start, timestep_fs)
        finals.append(read_structures(ctx.run.chunk_state(name, replica, len(pieces) - 1))[-1])
    return finals


def history(ctx: Context, name: str, replica: int) -> dict[str, list]:
    """A replica's thermo history (time_ps from the schedule's start, temp, pe, press, vol ...)
    over its finished chunks, with the step each point belongs to."""
    merged: dict[str, list] = {}
    for path in ctx.run.chunk_histories(name, replica):
        for key, values in json.loads(path.read_text()).items():
            merged.setdefault(key, []).extend(values)
    return merged


def step_frames(ctx: Context, name: str, step: str) -> list[list[Atoms]]:
    """Each replica's frames of one step of protocol `name`, in time order (replicas with none
    left out)."""
    replicas = []
    for replica in ctx.run.replicas(name):
        paths = ctx.run.step_trajectories(name, replica, step)
        frames = [atoms for path in paths for atoms in read_structures(path)]
        if frames:
            replicas.append(frames)
    return replicas


def glass_frames(ctx: Context) -> list[list[Atoms]]:
    """Each replica's melt-quench production frames, in time order: what the glass analyses
    read; StageFailed if there are none."""
    replicas = step_frames(ctx, ctx.run.MELT_QUENCH, "production")
    if not replicas:
        raise StageFailed("no melt-quench production frames: run the melt_quench stage first "
                          "(with md.dump_every above 0)")
    return replicas


def _run_chunk(ctx: Context, name: str, replica: int, chunk: Chunk, start: Atoms,
               timestep_fs: float) -> None:
    step = chunk.step
    pressure = None if step.pressure_bar is None else f"{step.pressure_bar!r} bar"
    converged = ctx.config.md.phases[-1] if ctx.config.md.phases else None
    phase = Phase(name=f"{name}-{step.name}", ensemble=step.ensemble,
                  temperature=(chunk.start_k, chunk.end_k), pressure=pressure,
                  timestep=f"{timestep_fs!r} fs", length=f"{chunk.duration_fs!r} fs",
                  weights=converged.weights if converged else None,  # no refit to start with
                  barostat=step.barostat if ensemble(step.ensemble).needs_pressure else None)
    learner = Learner(ctx)
    steps = round(chunk.duration_fs / timestep_fs)
    while True:
        generation, potential = learner.potential_for(phase)
        logger.info("%s replica %d, chunk %d (%s, %g -> %g K), generation %d: %d steps", name,
                    replica, chunk.index, step.name, chunk.start_k, chunk.end_k, generation, steps)
        trajectory = ctx.run.chunk_trajectory(name, replica, chunk.index, step.name) \
            if ctx.config.md.dump_every else None
        result = learner.explore(phase, generation, potential, start, steps, trajectory)
        checkpoint("chunk")
        if not result.halted:
            break
        logger.info("  max grade %.3g%s: learning, then the chunk again", result.max_grade,
                    break_description(result))
        learner.learn_from(phase, generation, potential, result)
    offset = chunk.start_fs / 1000.0
    thermo = {key: [float(v) for v in values] for key, values in result.thermo.items()}
    thermo["time_ps"] = [offset + t for t in thermo["time_ps"]]
    thermo["stage"] = [step.name] * len(thermo["time_ps"])
    atomic_write(ctx.run.chunk_history(name, replica, chunk.index),
                 lambda f: json.dump(thermo, f))
    write_structures(ctx.run.chunk_state(name, replica, chunk.index), [result.final])
    # the chunk and the learning progress it advanced (its MD's seed) in one commit: a resume
    # either reruns the chunk with the same seed or goes on after it
    def count_chunk(state: dict) -> None:
        state.setdefault("protocols", {}).setdefault(name, {})[str(replica)] = chunk.index + 1

    learner.save(also=count_chunk)
    checkpoint("chunk-done")


def _chunks_done(ctx: Context, name: str, replica: int) -> int:
    return ctx.run.read_state().get("protocols", {}).get(name, {}).get(str(replica), 0)
