"""Errors that are the user's to fix: the CLI prints them as one sentence and exits with 2."""


class UserError(Exception):
    """A mistake in the user's input (config, files, run directory), not a bug in lotf."""


class RunDirectoryBusy(UserError):
    """Another lotf process holds the run directory's lock."""


class StageFailed(Exception):
    """A stage could not produce its result (e.g. every oracle call failed); exit code 1."""


class DamagedFile(StageFailed):
    """A file of the run directory cannot be read and nothing on disk can recompute it."""
