"""The `learn` stage: active learning over the campaign's MD phases until each runs clean."""

from lotf.learn import run_learning
from lotf.stages import LABELS, register_stage

register_stage("learn", needs=(LABELS,), phases=True)(run_learning)
