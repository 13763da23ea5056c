"""Active learning: the `Learner` (learner.py: train, explore, select, label, retrain) and its
typed, saved state (state.py, light enough for readers of a run directory); the background
labels and the frames kept while they come."""
