"""Fits shared by the campaigns of a study: a generation whose training labels, settings, seed
and start are exactly those of a fit made before is copied from it, not fitted again (the
production members' consolidated generation 0 is one fit, not three).

The key hashes everything the fit reads — every label's structure and values, the potential's
settings, the weights, the seed, the warm start's coefficients, the grade mode, and the code
that fits (every file of lotf.potential, its compiled core and the motep it drives, and
lotf.learning.training), so a hit is the fit this campaign would make, even in a study folder
reused across code changes that keep lotf's version.
"""

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms

FIT_CODE_SUFFIXES = (".py", ".so", ".txt", ".mtp", ".json")  # sources, the core, level files


@functools.cache
def fit_code() -> str:
    """The hash of the files the fit runs: lotf.potential's whole folder (its compiled core and
    basis files too), the training module, and motep's version."""
    digest = hashlib.sha256()
    package = Path(__file__).parents[1]
    files = sorted(p for p in (package / "potential").rglob("*") if p.suffix in FIT_CODE_SUFFIXES)
    for path in files + [Path(__file__).with_name("training.py")]:
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        digest.update(importlib.metadata.version("motep").encode())
    return digest.hexdigest()


def fit_key(data: list[Atoms], settings: dict, **inputs) -> str:
    """The hash of a fit's inputs: its training labels in order, `settings` (JSON-able) and
    any further `inputs` (numbers, strings, arrays or None)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"code": fit_code(), "settings": settings}, sort_keys=True,
                             default=str).encode())
    for name in sorted(inputs):
        value = inputs[name]
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value, dtype=float).tobytes() if value is not None
                      and not isinstance(value, str) else repr(value).encode())
    for atoms in data:
        digest.update(np.ascontiguousarray(atoms.numbers).tobytes())
        for array in (atoms.positions, atoms.cell.array, atoms.pbc):
            digest.update(np.ascontiguousarray(array, dtype=float).tobytes())
        results = atoms.calc.results if atoms.calc is not None else {}
        for name in ("energy", "forces", "stress"):
            if name in results:
                digest.update(name.encode())
                digest.update(np.ascontiguousarray(results[name], dtype=float).tobytes())
    return digest.hexdigest()


class FitCache:
    """A folder of fitted potentials by the hash of their inputs."""

    def __init__(self, folder: Path):
        self.folder = folder

    def get(self, key: str) -> Path | None:
        """The saved potential fitted on `key`'s inputs, or None."""
        path = self.folder / key
        return path if (path / "potential.json").is_file() else None

    def put(self, key: str, save: Callable[[Path], None]) -> None:
        """Keep a potential under `key`, written whole before it is renamed into place."""
        if self.get(key) is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{key[:16]}."))
        save(scratch)
        try:
            os.replace(scratch, self.folder / key)
        except OSError:  # another campaign put the same fit first
            shutil.rmtree(scratch, ignore_errors=True)
