"""Potentials by backend name: create an untrained one, or load one saved by `Potential.save`.

A backend is a `Potential` subclass naming its `backend`, in a module `*_backend.py` of this
package (each is imported below, and the subclass registers itself in BACKENDS); callers never
name its class. Adding a backend is one new module.
"""

import importlib
import json
import pkgutil
from pathlib import Path

from lotf.potential.activeset import ActiveSet
from lotf.potential.base import BACKENDS, Evaluation, Potential
from lotf.potential.schedule import FitSchedule

DEFAULT_BACKEND = "native"
for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name != "native_backend"):
    if _module.name.endswith("_backend"):  # the default first: the config lists it first
        importlib.import_module(f"{__name__}.{_module.name}")


def create(species: list[str], backend: str = DEFAULT_BACKEND, **settings) -> Potential:
    """An untrained potential: level, cutoff, min_dist, radial_basis_size, seed and the fit's
    `schedule` (a FitSchedule) per backend."""
    return BACKENDS[backend].create(species, **settings)


def load(directory: str | Path) -> Potential:
    """A potential saved with `Potential.save`, with its species and active set."""
    directory = Path(directory)
    metadata = json.loads((directory / "potential.json").read_text())
    potential = BACKENDS[metadata["backend"]]._load(directory, metadata)
    if (directory / "active_set.npz").is_file():
        potential.active_set = ActiveSet.load(directory / "active_set.npz")
    potential.saved_in = directory.resolve()
    return potential


__all__ = ["BACKENDS", "ActiveSet", "Evaluation", "FitSchedule", "Potential", "create", "load"]
