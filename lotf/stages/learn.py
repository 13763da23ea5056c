"""The `learn` stage: active learning over the campaign's MD phases until each runs clean (and,
with `active_learning.check`, holds to the oracle there; the checks go to results.json); each
walker's final cell is kept as the run's learned cells for what starts from it. A phase ended by
`active_learning.max_iterations` with `on_max_iterations: continue` is listed with its flag."""

from lotf.context import Context
from lotf.learning.learner import Learner
from lotf.report import add_result
from lotf.stages.registry import LABELS, register_stage


@register_stage("learn", needs=(LABELS,), phases=True)
def learn(ctx: Context) -> dict:
    learner = Learner(ctx)
    summary = learner.converge()
    if "checks" in summary:
        add_result(ctx.run, "convergence_checks", {
            "checks": summary["checks"], "flags": learner.check_flags(),
            "tolerance": ctx.config.active_learning.check.model_dump()})
    if "unconverged" in summary:
        add_result(ctx.run, "unconverged_phases", {
            "phases": summary["unconverged"], "flags": learner.unconverged_flags(),
            "max_iterations": ctx.config.active_learning.max_iterations})
    learner.save_learned_cells()
    return summary
