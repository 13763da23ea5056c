"""The potential interface every backend implements, like an ASE calculator for lotf's needs.

A backend evaluates energy, forces, stress and the per-atom basis in one call: the derivatives
of each site energy with respect to the parameters (all of them for MTP, as MLIP linearises).
Grading, active sets, selection and error reports are built on that here, once.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from lotf.potential.activeset import ActiveSet, Mode
from lotf.potential.schedule import Outcome
from lotf.units import EV_PER_A3_TO_GPA


@dataclass
class Evaluation:
    """One configuration evaluated: energy (eV), forces (eV/Å), stress (Voigt, eV/Å³), grades."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    basis: np.ndarray | None = field(default=None, repr=False)  # (atoms, parameters):
    # d(site energy)/d(parameter), computed only when asked for (grades, active sets)
    grade: float | None = None
    atom_grades: np.ndarray | None = None




BACKENDS: dict[str, type["Potential"]] = {}  # every backend class by its `backend` name


class Potential(ABC):
    """A trainable interatomic potential with an extrapolation grade. A subclass that names its
    `backend` is registered under that name (as a LAMMPS style is): nothing else lists it."""

    backend: str  # the name it is registered under
    pair_style: str | None = None  # the LAMMPS pair style (a lotf plugin) that evaluates it, if any
    last_fit: Outcome | None = None  # what the last fit's L-BFGS did, if the backend reports it
    lammps_extract: tuple[str, str] = ("energy", "grade")  # what the pair style `extract`s
    saved_in: Path | None = None  # the folder `load` read it from, until it is changed

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "backend" in cls.__dict__:
            BACKENDS[cls.backend] = cls

    def __init__(self, species: list[str], active_set: ActiveSet | None = None):
        self.species = list(species)
        self._numbers = np.array([atomic_numbers[symbol] for symbol in self.species])
        self.active_set = active_set

    # --- what a backend provides -------------------------------------------------------------
    @property
    @abstractmethod
    def cutoff(self) -> float:
        """Radial cutoff (Å)."""

    @property
    @abstractmethod
    def min_dist(self) -> float:
        """Shortest distance (Å) the radial basis is defined for; closer atoms are extrapolation."""

    @abstractmethod
    def _evaluate(self, atoms: Atoms, with_basis: bool) -> Evaluation:
        """Energy, forces, stress and, if `with_basis`, the per-atom basis; no grades."""

    @abstractmethod
    def fit(self, train: list[Atoms], weights: dict[str, float], seed: int = 0,
            start: np.ndarray | None = None) -> "Potential":
        """Fit to labelled structures; `weights` of energy (per atom), forces, stress; from the
        coefficients `start` if given (see `parameters`). Returns the fitted potential."""

    def parameters(self) -> np.ndarray | None:
        """The coefficients a later fit can start from (`fit(..., start=)`); None if the
        backend cannot warm-start."""
        return None

    @abstractmethod
    def _save(self, directory: Path) -> dict:
        """Write the backend's files into `directory`; return metadata for potential.json."""

    @classmethod
    @abstractmethod
    def _load(cls, directory: Path, metadata: dict) -> "Potential":
        """Read what `_save` wrote."""

    def write_lammps_pair(self, directory: Path) -> list[str]:
        """Write the files `pair_style` reads into `directory`; return the pair_style and
        pair_coeff commands, LAMMPS atom type t being species t - 1, with the grade if the
        potential has an active set (the pair style's `extract`able "grade" and "energy")."""
        raise NotImplementedError(f"the {self.backend} backend has no LAMMPS pair style")

    def lammps_commands(self, scratch: Callable[[], Path]) -> list[str]:
        """Every LAMMPS command that makes this potential the run's pair style (its plugin
        loaded), reading the files of the folder it was loaded from when that holds them, else
        writing them into the folder `scratch()` makes."""
        raise NotImplementedError(f"the {self.backend} backend has no LAMMPS pair style")

    # --- built on it -------------------------------------------------------------------------
    def evaluate(self, atoms: Atoms) -> Evaluation:
        """Energy, forces, stress and, when an active set exists, the extrapolation grade."""
        if not np.isin(atoms.numbers, self._numbers).all():  # vectorised: this runs every MD step
            unknown = set(atoms.get_chemical_symbols()) - set(self.species)
            raise ValueError(f"species {sorted(unknown)} are not in the potential's {self.species}")
        result = self._evaluate(atoms, with_basis=self.active_set is not None)
        if self.active_set is not None:
            if self.active_set.mode == "configuration":
                result.grade = float(self.active_set.grades(result.basis.mean(axis=0))[0])
            else:
                result.atom_grades = self.active_set.grades(result.basis)
                result.grade = float(result.atom_grades.max())
        return result

    def grade_order(self) -> np.ndarray | None:
        """The basis columns in the order the reference MaxVol visits them (None: as they are)."""
        return None

    def basis_rows(self, structures: list[Atoms], mode: Mode) -> tuple[np.ndarray, np.ndarray]:
        """Basis rows of the structures and, for each row, the index of its structure.

        A configuration's row is its atoms' mean (MLIP's `weight_scaling 2`), so cells of
        different sizes are graded alike.
        """
        rows, owners = [], []
        for index, atoms in enumerate(structures):
            basis = self._evaluate(atoms, with_basis=True).basis
            rows.append(basis.mean(axis=0, keepdims=True) if mode == "configuration" else basis)
            owners.append(np.full(len(rows[-1]), index))
        return np.vstack(rows), np.concatenate(owners)

    def update_active_set(self, train: list[Atoms], mode: Mode = "neighbourhood") -> None:
        """The maximum-volume active set of the training structures (after each fit)."""
        rows, _ = self.basis_rows(train, mode)
        self.active_set = ActiveSet.from_rows(rows, mode, self.grade_order())
        self.saved_in = None

    def select(self, candidates: list[Atoms], max_new: int) -> list[int]:
        """Indices of at most `max_new` candidates that grow the active set's volume most."""
        if self.active_set is None:
            raise ValueError("select needs an active set: call update_active_set first")
        rows, owners = self.basis_rows(candidates, self.active_set.mode)
        chosen, _ = self.active_set.select(rows, owners, max_new)
        return chosen

    def errors(self, structures: list[Atoms]) -> dict[str, float]:
        """RMSE against the structures' labels: energy meV/atom, forces eV/Å, stress GPa."""
        energy, forces, stress = [], [], []
        for atoms in structures:
            result = self._evaluate(atoms, with_basis=False)
            energy.append((result.energy - atoms.get_potential_energy()) / len(atoms))
            forces.append((result.forces - atoms.get_forces()).ravel())
            reference = atoms.calc.results.get("stress") if atoms.calc is not None else None
            if reference is not None and result.stress is not None:
                stress.append((result.stress - reference) * EV_PER_A3_TO_GPA)
        report = {
            "structures": len(structures),
            "energy_rmse_mev_per_atom": 1e3 * _rms(energy),
            "forces_rmse_ev_per_a": _rms(np.concatenate(forces)) if forces else float("nan"),
        }
        if stress:
            report["stress_rmse_gpa"] = _rms(np.concatenate(stress))
        return report

    def save(self, directory: Path) -> None:
        """Write the potential, its species and active set into `directory` (created)."""
        import json

        directory.mkdir(parents=True, exist_ok=True)
        metadata = {"backend": self.backend, "species": self.species, **self._save(directory)}
        if self.active_set is not None:
            self.active_set.save(directory / "active_set.npz")
        (directory / "potential.json").write_text(json.dumps(metadata, indent=2))


def _rms(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.sqrt(np.mean(values**2))) if values.size else float("nan")
