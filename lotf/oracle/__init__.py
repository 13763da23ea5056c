"""The reference calculator ("oracle"): calculators by name, isolated calls, a pool with timeouts."""

from lotf.oracle.calculators import check_available, fingerprint, make_calculator, parameters
from lotf.oracle.call import CallOutcome, CallTask
from lotf.oracle.executors import open_pool
from lotf.oracle.pool import OraclePool, Pool

__all__ = [
    "CallOutcome",
    "CallTask",
    "OraclePool",
    "Pool",
    "check_available",
    "fingerprint",
    "make_calculator",
    "open_pool",
    "parameters",
]
