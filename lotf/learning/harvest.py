"""Candidates found while a break's selection is labelled (`active_learning.asynchronous`).

The walkers explore on with the potential that broke; what they find above the select
threshold is kept on disk (one file per generation, named in the learning state) and joins
the next selection, graded by the potential that makes it. A kill loses none of it: a file is
written whole before the state names it, and dropped only after the selection that used it is
committed.
"""

from pathlib import Path

from ase import Atoms

from lotf.context import Context
from lotf.learning.state import LearningState
from lotf.potential import Potential
from lotf.store import read_structures, write_structures

KEPT = 1000  # frames per generation at most: beyond, every other one is dropped (bounded disk)


def add(ctx: Context, state: LearningState, generation: int, frames: list[Atoms]) -> None:
    """Keep `frames` found with `generation`; the caller's next write of `state` commits them."""
    path = ctx.run.harvest(generation)
    relative = ctx.run.relative(path)
    listed = state.harvest
    kept = (read_structures(path) if relative in listed else []) + frames
    while len(kept) > KEPT:
        kept = kept[::2]
    write_structures(path, kept)
    if relative not in listed:
        listed.append(relative)


def frames(ctx: Context, state: LearningState) -> list[Atoms]:
    """Every frame kept since the last selection."""
    return [atoms for relative in state.harvest
            for atoms in read_structures(ctx.run.resolve(relative))]


def graded(ctx: Context, state: LearningState, potential: Potential,
           threshold: float) -> tuple[list[Atoms], float]:
    """The kept frames `potential` grades above `threshold`, and the highest grade of all."""
    above, highest = [], 0.0
    for atoms in frames(ctx, state):
        grade = potential.evaluate(atoms).grade
        highest = max(highest, grade)
        if grade > threshold:
            above.append(atoms)
    return above, highest


def release(ctx: Context, state: LearningState) -> list[Path]:
    """Forget the kept frames in `state`; the files to delete once that is committed."""
    files = [ctx.run.resolve(relative) for relative in state.harvest]
    state.harvest = []
    return files
