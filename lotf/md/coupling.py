"""How a potential's forces reach LAMMPS, by name, and which one a run gets.

Both couplings hand the MD session, every step, the configuration's energy and extrapolation
grade; the session records the step and publishes the grade for `fix halt`:

- `pair_style`: LAMMPS evaluates the potential in lotf's plugin (`pair_style mtp`), with MPI
  domain decomposition and no Python in the force loop; Python only reads the grade and energy.
- `fix_external`: Python evaluates the potential every step (any backend) and LAMMPS integrates;
  every MPI rank evaluates the whole cell.

`auto` takes the pair style when the potential has one and the plugin was built.
"""

import math
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from ase import Atoms

from lotf.errors import UserError
from lotf.lammps_plugins import plugin_path
from lotf.potential import Potential
from lotf.registry import registrar

FIX = "lotf"  # the fix external's ID: the per-step hook of both couplings
COUPLINGS: dict[str, type["Coupling"]] = {}
register = registrar(COUPLINGS)
AUTO_ORDER = ("pair_style", "fix_external")  # what `auto` tries, first choice first


class Coupling(ABC):
    """The force source of one MD session."""

    def __init__(self, potential: Potential, lmp):
        self.potential, self.lmp = potential, lmp

    @classmethod
    @abstractmethod
    def unavailable(cls, potential: Potential) -> str | None:
        """Why this coupling cannot run `potential`, or None if it can."""

    @abstractmethod
    def commands(self) -> list[str]:
        """LAMMPS commands that set up the forces (after the atoms and the fix external exist)."""

    @abstractmethod
    def step(self, atoms: Atoms, tags: np.ndarray, forces: np.ndarray) -> tuple[float, float]:
        """This step's energy and grade; `forces` (the fix external's, local atoms in LAMMPS's
        order, `tags` their IDs) are added to LAMMPS's own."""

    def close(self) -> None:  # noqa: B027 (most couplings make nothing to release)
        """Release what the coupling made."""


@register("fix_external")
class FixExternal(Coupling):
    """The potential evaluated in Python on the whole cell: energy, forces, virial, grade."""

    @classmethod
    def unavailable(cls, potential: Potential) -> str | None:
        return None

    def commands(self) -> list[str]:
        return [f"fix_modify {FIX} energy yes virial yes"]

    def step(self, atoms: Atoms, tags: np.ndarray, forces: np.ndarray) -> tuple[float, float]:
        result = self.potential.evaluate(atoms)
        grade = result.grade if result.grade is not None else 0.0
        if not np.all(np.isfinite(result.forces)):
            grade = math.inf  # an explosion is an extrapolation, not a crash
        # `atoms` is in atom-ID order; LAMMPS's local atoms are in any order
        forces[:] = np.nan_to_num(result.forces[tags - 1], posinf=0.0, neginf=0.0)
        # every rank sets the whole energy and virial: fix external neither sums nor splits them
        self.lmp.fix_external_set_energy_global(FIX, float(result.energy))
        virial = -result.stress * atoms.get_volume()  # ASE Voigt order -> LAMMPS order
        self.lmp.fix_external_set_virial_global(FIX, virial[[0, 1, 2, 5, 4, 3]].tolist())
        return float(result.energy), grade


@register("pair_style")
class PairStyle(Coupling):
    """The potential inside LAMMPS as lotf's pair style; its grade and energy read every step."""

    def __init__(self, potential: Potential, lmp):
        super().__init__(potential, lmp)
        self._files: tempfile.TemporaryDirectory | None = None  # made only if files are written

    @classmethod
    def unavailable(cls, potential: Potential) -> str | None:
        if potential.pair_style is None:
            return f"the {potential.backend} backend has no LAMMPS pair style"
        try:
            plugin_path()
        except FileNotFoundError as missing:
            return str(missing)
        return None

    def commands(self) -> list[str]:
        return self.potential.lammps_commands(self._scratch)

    def step(self, atoms: Atoms, tags: np.ndarray, forces: np.ndarray) -> tuple[float, float]:
        forces[:] = 0.0  # the pair style has added them already
        energy, grade = self.potential.lammps_extract
        grade = self.lmp.extract_pair(grade)  # None without an active set
        return float(self.lmp.extract_pair(energy)), 0.0 if grade is None else float(grade)

    def _scratch(self) -> Path:
        """A folder of this rank's own for a potential that is not saved (no shared file system
        is assumed)."""
        self._files = tempfile.TemporaryDirectory(prefix="lotf-pair-")
        return Path(self._files.name)

    def close(self) -> None:
        if self._files is not None:
            self._files.cleanup()


def choose(name: str, potential: Potential) -> type[Coupling]:
    """The coupling called `name` (or, for `auto`, the first available); UserError if it cannot
    run this potential."""
    if name == "auto":
        return next(COUPLINGS[n] for n in AUTO_ORDER if COUPLINGS[n].unavailable(potential) is None)
    if name not in COUPLINGS:
        raise UserError(f"md.coupling: unknown coupling '{name}' (known: auto, "
                        f"{', '.join(sorted(COUPLINGS))})")
    reason = COUPLINGS[name].unavailable(potential)
    if reason is not None:
        raise UserError(f"md.coupling: {name} cannot run this potential: {reason}")
    return COUPLINGS[name]
