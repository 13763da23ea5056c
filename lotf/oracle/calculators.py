"""Reference calculators by short name or 'module:Class', with defaults and a content fingerprint.

A new short name is one `register(...)` line; nothing else in lotf changes.
"""

import hashlib
import importlib
import importlib.util
import json
from dataclasses import dataclass, field
from typing import Any

from ase.calculators.calculator import Calculator


@dataclass(frozen=True)
class CalculatorEntry:
    """Where a calculator class lives, the defaults lotf gives it, and the package that ships it."""

    module: str
    attribute: str
    defaults: dict[str, Any] = field(default_factory=dict)
    package: str | None = None


CALCULATORS: dict[str, CalculatorEntry] = {}


def register(name: str, module: str, attribute: str, defaults: dict | None = None,
             package: str | None = None) -> None:
    """Make `name` usable as `oracle.calculator` in a campaign."""
    CALCULATORS[name] = CalculatorEntry(module, attribute, defaults or {}, package)


register("emt", "ase.calculators.emt", "EMT")
register("lj", "ase.calculators.lj", "LennardJones")
register("tblite", "tblite.ase", "TBLite", {"method": "GFN1-xTB", "verbosity": 0}, "tblite")
# The paper's level of theory: PBE, 400 eV plane waves, Gamma point, no spin.
register("gpaw", "gpaw", "GPAW",
         {"mode": {"name": "pw", "ecut": 400.0}, "xc": "PBE", "kpts": [1, 1, 1], "txt": "gpaw.txt"},
         "gpaw")
register("vasp", "ase.calculators.vasp", "Vasp",
         {"xc": "PBE", "encut": 400, "kpts": [1, 1, 1], "gamma": True, "ispin": 1})
# Diagonalisation with smearing: OT fails on metallic-looking amorphous cells.
register("cp2k", "ase.calculators.cp2k", "CP2K",
         {"xc": "PBE", "max_scf": 100,
          "inp": "&FORCE_EVAL\n&DFT\n&SCF\nADDED_MOS 50\n&SMEAR ON\nMETHOD FERMI_DIRAC\n"
                 "ELECTRONIC_TEMPERATURE 300\n&END SMEAR\n&DIAGONALIZATION\n"
                 "&END DIAGONALIZATION\n&END SCF\n&END DFT\n&END FORCE_EVAL"})
register("espresso", "ase.calculators.espresso", "Espresso")


def resolve(name: str) -> CalculatorEntry:
    """The registry entry for a short name, or an ad-hoc one for 'package.module:Class'."""
    if name in CALCULATORS:
        return CALCULATORS[name]
    if ":" in name:
        module, _, attribute = name.partition(":")
        if module and attribute:
            return CalculatorEntry(module, attribute)
    raise ValueError(
        f"unknown calculator '{name}'; use one of {', '.join(CALCULATORS)} or 'module:Class'"
    )


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
    return {**resolve(name).defaults, **params}


def make_calculator(name: str, params: dict[str, Any]) -> Calculator:
    """Import and construct the calculator."""
    entry = resolve(name)
    module = importlib.import_module(entry.module)
    try:
        factory = getattr(module, entry.attribute)
    except AttributeError:
        raise ValueError(f"module '{entry.module}' has no '{entry.attribute}'") from None
    return factory(**parameters(name, params))


# how a call is launched and where it writes, never what it computes: left out of the fingerprint,
# so that a label computed on 2 ranks is found again on 64 (ASE's names for these settings)
LAUNCH_SETTINGS = frozenset({"command", "directory", "label", "txt", "parallel",
                             "communicator", "profile", "nprocs"})


def fingerprint(name: str, params: dict[str, Any]) -> str:
    """Hex digest naming the level of theory: the same name and effective parameters, the same
    key, whatever the launch settings (LAUNCH_SETTINGS)."""
    theory = {k: v for k, v in parameters(name, params).items() if k not in LAUNCH_SETTINGS}
    text = json.dumps({"calculator": name, "params": theory}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
