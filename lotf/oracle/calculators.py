"""Reference codes by short name (lotf.oracle.code's table) or 'module:Class': checks, the
calculator for a call, and the content fingerprint of a level of theory.
"""

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
from typing import Any

from ase.calculators.calculator import Calculator

from lotf.oracle.code import CODES, PROGRAM, PYTHON, Code


def resolve(name: str) -> Code:
    """The registered code for a short name, or an ad-hoc one for 'package.module:Class'."""
    _load_codes()
    if name in CODES:
        return CODES[name]
    if ":" in name:
        module, _, attribute = name.partition(":")
        if module and attribute:
            return Code(module, attribute, mpi=PYTHON)
    raise ValueError(
        f"unknown calculator '{name}'; use one of {', '.join(CODES)} or 'module:Class'"
    )


def _load_codes() -> None:
    import lotf.oracle.codes  # noqa: F401  (each module registers its codes)


def check_available(name: str) -> None:
    """Raise ValueError if the calculator's module cannot be found or lacks its class."""
    entry = resolve(name)
    try:
        found = importlib.util.find_spec(entry.module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        hint = f" (pip install {entry.package})" if entry.package else ""
        raise ValueError(f"calculator '{name}' needs module '{entry.module}', not installed{hint}")
    try:
        module = importlib.import_module(entry.module)
    except Exception as error:  # whatever a broken installation raises
        raise ValueError(f"calculator '{name}': module '{entry.module}' fails to import "
                         f"({type(error).__name__}: {error})") from None
    if not hasattr(module, entry.attribute):
        raise ValueError(f"calculator '{name}': module '{entry.module}' has no "
                         f"'{entry.attribute}'")


def parameters(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments a calculator gets: lotf's defaults overridden by the campaign's."""
    entry = resolve(name)
    return entry.merged(entry.defaults, params)


def make_calculator(name: str, params: dict[str, Any], ranks: int = 1,
                    launcher: str | None = None, comm=None) -> Calculator:
    """Import and construct the calculator, its program (if any) launched on `ranks` ranks, or
    (`comm`, an mpi4py communicator) its Python running on those ranks of this MPI job."""
    entry = resolve(name)
    module = importlib.import_module(entry.module)
    try:
        factory = getattr(module, entry.attribute)
    except AttributeError:
        raise ValueError(f"module '{entry.module}' has no '{entry.attribute}'") from None
    settings = parameters(name, params)
    if entry.mpi == PROGRAM:
        settings = entry.with_command(settings, entry.command(settings, ranks, launcher))
    if comm is not None:
        settings = entry.on_group(settings, comm)
    return factory(**settings)


# how a call is launched and where it writes, never what it computes: left out of the fingerprint,
# so that a label computed on 2 ranks is found again on 64 (ASE's names for these settings)
LAUNCH_SETTINGS = frozenset({"command", "directory", "label", "txt", "parallel",
                             "communicator", "profile", "nprocs", "pseudo_dir"})


def fingerprint(name: str, params: dict[str, Any]) -> str:
    """Hex digest naming the level of theory: the same name and effective parameters, the same
    key, whatever the launch settings (LAUNCH_SETTINGS)."""
    theory = {k: v for k, v in parameters(name, params).items() if k not in LAUNCH_SETTINGS}
    named = {"calculator": name, "params": theory}
    code = resolve(name)
    if code.versioned and code.package:
        named["version"] = importlib.metadata.version(code.package)
    text = json.dumps(named, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
