"""The `audit` stage: the potential held to the oracle on the frames the science is measured on.

The validate stage checks the potential on its own learning MD at 1000 K; a glass at 300 K can
lie far from every labelled frame while every grade stays under the break threshold (#19: a
96-atom Li3PS4 glass was off by 17.9 meV/atom and 0.66 GPa there, 3x the validation error).
A round relabels a random sample of the melt-quench production frames (as `audit-NNNN`, the
generation audited) and reports energy, force and pressure errors there beside validation's.
Worse than the tolerance, those labels join the training set (generations after the audited
one train on them), the next generation is trained, the melt-quench's protocol is set aside
(`protocols/melt-quench.audit-R`) and run again on it; until a round passes or `audit.rounds`
are spent, which is reported as a plain flag. Every step is recorded, so a kill resumes.
"""

import shutil

from lotf.auditing import Audit, describe, oracle_errors, sample, within
from lotf.context import Context
from lotf.errors import StageFailed
from lotf.learning.learner import Learner
from lotf.log import logger
from lotf.protocols.runner import glass_frames
from lotf.report import add_result, read_results
from lotf.stages.registry import Section, register_stage, registered


@register_stage("audit", section=Section("audit", Audit, Audit()), needs=("melt_quench",),
                trajectories=True)
def audit(ctx: Context) -> dict:
    spec = ctx.config.audit
    state = ctx.run.read_state().get("audit", {"round": 0, "step": "audit", "rounds": []})
    while state["step"] != "done":
        if state["step"] == "audit":
            result = _round(ctx, state["round"])
            state["rounds"] = state["rounds"][:state["round"]] + [result]
            last = state["round"] + 1 >= spec.rounds
            state["step"] = "done" if result["passed"] or last else "retrain"
        elif state["step"] == "retrain":
            _retrain(ctx, state["rounds"][-1]["generation"], state["round"])
            state["step"] = "rerun"
        else:  # rerun: the melt-quench on the retrained potential (resumes chunk by chunk)
            registered()["melt_quench"].run(ctx)
            state.update(round=state["round"] + 1, step="audit")
        _save(ctx, state)
    final = state["rounds"][-1]
    summary = {"rounds": len(state["rounds"]), "passed": final["passed"],
               "generation": final["generation"]}
    result = {**summary, "history": state["rounds"],
              "tolerance": spec.model_dump(include={"energy_rmse", "forces_rmse",
                                                    "pressure_rmse"})}
    if not final["passed"]:
        result["flag"] = (f"the audit failed in all {len(state['rounds'])} round(s): on the "
                          f"glasses' frames the potential is off by {describe(final)}, beyond "
                          "the tolerance; the glasses' numbers rest on it")
        logger.warning("audit: %s", result["flag"])
    add_result(ctx.run, "audit", result)
    return summary


def _round(ctx: Context, index: int) -> dict:
    """Label a random sample of the production frames and compare the newest potential."""
    spec = ctx.config.audit
    generation = ctx.run.latest_generation()
    potential = Learner(ctx).generation(generation)
    frames = [atoms for replica in glass_frames(ctx) for atoms in replica]
    errors = oracle_errors(ctx, sample(frames, spec.frames, [ctx.config.seed, index]), potential,
                           generation)
    if errors is None:
        raise StageFailed("audit: the oracle labelled none of the sampled frames")
    errors = {"round": index, **errors, "passed": within(errors, spec)}
    validation = read_results(ctx.run).get("validation")
    beside = "" if validation is None else (
        f" (validation: {validation['energy_rmse_mev_per_atom']:.1f} meV/atom, "
        f"{validation['forces_rmse_ev_per_a']:.3f} eV/Å)")
    logger.info("audit round %d, generation %d, %d glass frames: %s%s: %s", index, generation,
                errors["frames"], describe(errors), beside, "passed" if errors["passed"] else
                "beyond the tolerance")
    return errors


def _retrain(ctx: Context, audited: int, index: int) -> None:
    """Train the generation after the audited one (on the audit's labels too) and set the
    melt-quench's protocol and glasses aside, so that it runs again from its start cells."""
    if ctx.run.latest_generation() <= audited:
        phases = ctx.config.md.phases
        Learner(ctx).train(audited + 1, phases[-1] if phases else None)
    protocol = ctx.run.protocol(ctx.run.MELT_QUENCH)
    kept = protocol.with_name(f"{protocol.name}.audit-{index}")
    if protocol.is_dir() and not kept.exists():
        protocol.rename(kept)
        glasses = ctx.run.glasses
        if glasses.is_file():
            shutil.copy2(glasses, kept / glasses.name)
    state = ctx.run.read_state()  # the protocol's chunks count from zero again
    state.get("protocols", {}).pop(ctx.run.MELT_QUENCH, None)
    ctx.run.write_state(state)
    logger.info("audit: generation %d trained with the audit's labels; the melt-quench runs "
                "again on it (the previous run is kept in %s)", audited + 1, kept)


def _save(ctx: Context, audit_state: dict) -> None:
    state = ctx.run.read_state()
    state["audit"] = audit_state
    ctx.run.write_state(state)
