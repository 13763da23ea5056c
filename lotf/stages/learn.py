"""The `learn` stage: active learning over the campaign's MD phases until each runs clean; each
walker's final cell is kept as structures/learned.extxyz for what starts from it."""

from lotf.context import Context
from lotf.learn import run_learning, save_learned_cells
from lotf.stages.registry import LABELS, register_stage


@register_stage("learn", needs=(LABELS,), phases=True)
def learn(ctx: Context) -> dict:
    summary = run_learning(ctx)
    save_learned_cells(ctx)
    return summary
