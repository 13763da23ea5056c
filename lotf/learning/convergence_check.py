"""A converged phase held to the oracle (`active_learning.check`).

The grade says where the potential extrapolates, not how wrong it is where it interpolates: a
128-atom Li3B11O18 liquid ran 10 ps clean and then validated at 157 meV/atom, every error of
one sign (#19). So when a phase converges by the grade, a random sample of the frames of its
clean MD (the final generation's trajectories of the phase) is labelled as `audit-NNNN` of
that generation and the potential's errors there are judged against the check's tolerance.
The learner decides what follows (lotf.learning.learner): a miss makes those frames the
generation's selection, so the next generation trains on them and the phase learns on.
"""

from pathlib import Path

from ase import Atoms

from lotf.auditing import describe, oracle_errors, sample, within
from lotf.config import Phase
from lotf.context import Context
from lotf.errors import StageFailed
from lotf.log import logger
from lotf.potential import Potential
from lotf.store import read_trajectories


def check_phase(ctx: Context, phase: Phase, generation: int, potential: Potential,
                files: list[Path], index: int) -> tuple[dict, list[Atoms]]:
    """Round `index` of the check of `phase`, converged on `generation` (its `potential`,
    its trajectory `files`): the errors with `passed`, and the frames labelled. The pressure
    is judged only in NPT, where it moves the cell (an NVT phase may fit no stress at all)."""
    check = ctx.config.active_learning.check
    frames = read_trajectories(files, "convergence check")
    if not frames:
        raise StageFailed(f"phase {phase.name}: no frame of generation {generation}'s MD to check "
                          "against the oracle (md.dump_every longer than the segments?)")
    chosen = sample(frames, check.frames, [ctx.config.seed, generation, index])
    errors = oracle_errors(ctx, chosen, potential, generation)
    if errors is None:
        raise StageFailed(f"phase {phase.name}: the oracle labelled none of the frames sampled to "
                          "check the converged potential")
    npt = phase.ensemble == "npt"
    result = {"round": index, **errors, "pressure_judged": npt,
              "passed": within(errors, check, pressure=npt)}
    logger.info("phase %s converged by the grade on generation %d; check %d against the oracle "
                "on %d of its %d frames: %s%s: %s", phase.name, generation, index,
                result["frames"], len(frames), describe(result),
                "" if npt else " (pressure not judged outside NPT)",
                "passed" if result["passed"] else "beyond the tolerance")
    return result, chosen


def flag(phase: str, rounds: list[dict]) -> str | None:
    """A plain sentence if the phase's last check failed (its rounds spent), else None."""
    last = rounds[-1] if rounds else None
    if last is None or last["passed"]:
        return None
    return (f"phase {phase} converged by the grade, but in all {len(rounds)} check(s) against "
            f"the oracle the potential was off by {describe(last)} on its clean MD, beyond "
            "active_learning.check's tolerance")
