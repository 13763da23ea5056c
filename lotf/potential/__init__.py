"""Potentials by backend name: create an untrained one, or load one saved by `Potential.save`.

A backend is a `Potential` subclass registered in BACKENDS; callers never name its class.
"""

import json
from pathlib import Path

from lotf.potential.activeset import ActiveSet
from lotf.potential.base import Evaluation, Potential
from lotf.potential.motep_backend import MotepMTP
from lotf.potential.native_backend import NativeMTP
from lotf.potential.schedule import FitSchedule

BACKENDS: dict[str, type[Potential]] = {"native": NativeMTP, "motep": MotepMTP}
DEFAULT_BACKEND = "native"


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
