"""The `learn` stage: active learning over the campaign's MD phases until each runs clean; each
walker's final cell is kept as the run's learned cells for what starts from it."""

from lotf.context import Context
from lotf.learning.learner import Learner
from lotf.stages.registry import LABELS, register_stage


@register_stage("learn", needs=(LABELS,), phases=True)
def learn(ctx: Context) -> dict:
    learner = Learner(ctx)
    summary = learner.converge()
    learner.save_learned_cells()
    return summary
