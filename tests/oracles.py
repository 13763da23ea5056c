"""Test oracles: EMT that counts its calls, is slow on request, and fails on request.

They are used through the `module:Class` import path exactly as a user's own calculator is;
a structure asks for a failure with `atoms.info["fault"]` (raise, nan, sleep, crash).
"""

import os
import signal
import time

import numpy as np
from ase.calculators.emt import EMT


class CountingEMT(EMT):
    """EMT that appends one line per call to `counter` and sleeps `delay` seconds first."""

    def __init__(self, counter: str, delay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.counter, self.delay = counter, delay

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        with open(self.counter, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        with open(self.counter + ".ranks", "a") as handle:
            handle.write(f"{parent_rank()}\n")
        time.sleep(self.delay)
        fault = atoms.info.get("fault") if atoms is not None else None
        if fault == "raise":
            raise RuntimeError("SCF did not converge")
        if fault == "sleep":
            time.sleep(3600)
        if fault == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        super().calculate(atoms, properties, system_changes)
        if fault == "nan":
            self.results["energy"] = np.nan


def parent_rank() -> str:
    """The MPI rank of the process that started this one ('-' if it is none): which rank of
    a job served the call, for `oracle.executor: mpi`."""
    try:
        with open(f"/proc/{os.getppid()}/environ", "rb") as handle:
            variables = handle.read().split(b"\0")
    except OSError:
        return "-"
    found = [v.split(b"=", 1)[1].decode() for v in variables if v.startswith(b"PMI_RANK=")]
    return found[0] if found else "-"


def serving_ranks(counter) -> list[str]:
    """The rank that served each call of a CountingEMT with this counter file (parent_rank)."""
    path = counter + ".ranks"
    return open(path).read().split() if os.path.exists(path) else []


def count_calls(counter) -> int:
    """How many calls a CountingEMT with this counter file has made."""
    return len(open(counter).read().split()) if os.path.exists(counter) else 0


class BuildCountingEMT(CountingEMT):
    """CountingEMT that also appends a line to `counter + '.built'` each time it is constructed."""

    def __init__(self, counter: str, delay: float = 0.0, **kwargs):
        super().__init__(counter, delay, **kwargs)
        with open(counter + ".built", "a") as handle:
            handle.write(f"{os.getpid()}\n")


class NoStressEMT(EMT):
    """EMT that says it cannot give a stress (as some molecular codes cannot)."""

    implemented_properties = ["energy", "forces"]
