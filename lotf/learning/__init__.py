"""Active learning: the `Learner` (train, explore, select, label, retrain) and its typed,
saved state; the background labels and the frames kept while they come."""

from lotf.learning.learner import Learner, break_description
from lotf.learning.state import LearningState

__all__ = ["Learner", "LearningState", "break_description"]
