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
