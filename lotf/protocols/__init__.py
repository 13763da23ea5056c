"""MD schedules run on a converged potential, still under grade watch (melt-quench, ...)."""
