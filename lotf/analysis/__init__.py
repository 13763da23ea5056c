"""Analyses of trajectories and their results, each carrying its uncertainty."""
