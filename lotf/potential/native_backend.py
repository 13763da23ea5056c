"""MTP on lotf's own C++ core (lotf.potential._mtp): evaluation, grades and fitting.

The fit is MLIP's recipe on the core's exact loss gradient: a level-2 (pair) least-squares
start for the radial coefficients (or the previous generation's coefficients), least squares
for the moment and species coefficients, L-BFGS over all coefficients stopped on a held-out
share (lotf.potential.schedule), then least squares again on every structure, so the moment
coefficients and the per-species energy offsets are the exact optimum for the radial ones.
"""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import Atoms
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from lotf.log import logger

# idle OpenMP threads sleep instead of spinning, so they leave the cores to NumPy's BLAS threads
# between force calls (spinning made each graded MD step 10x slower); read when libgomp starts
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import lotf.potential._mtp as _mtp  # noqa: E402
from lotf.potential.base import Evaluation
from lotf.potential.mtp_file import MTPFile, level_file, read_mtp, write_mtp
from lotf.potential.mtp_potential import MTP_FILE, MTPPotential
from lotf.potential.schedule import DEFAULT, FitSchedule, early_stopped, holdout_indices

VERLET_SKIN = 0.5  # Å: MD steps reuse pairs until an atom has moved half of it
_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])  # xx yy zz yz xz xy, as ASE


def level_definition(level: int) -> MTPFile:
    """The untrained MTP of a level: its moment tensors and contractions."""
    with level_file(level) as path:
        return read_mtp(path)


class NativeMTP(MTPPotential):
    """A moment tensor potential evaluated and fitted by lotf's C++ core."""

    backend = "native"

    def __init__(self, mtp: MTPFile, species: list[str], level: int, active_set=None,
                 schedule: FitSchedule = DEFAULT):
        super().__init__(species, active_set)
        if mtp.species_count != len(species):
            raise ValueError(f"the MTP has {mtp.species_count} species; {len(species)} were named")
        self.mtp, self.level, self.schedule = mtp, level, schedule
        self._model = self._verlet = None

    @classmethod
    def create(cls, species: list[str], level: int = 12, cutoff: float = 5.0,
               min_dist: float = 1.0, radial_basis_size: int = 8, seed: int = 0,
               schedule: FitSchedule = DEFAULT) -> "NativeMTP":
        """An untrained MTP with random coefficients (motep's ranges) until `fit`."""
        rng = np.random.default_rng(seed)
        count = len(species)
        mtp = replace(level_definition(level), species_count=count, min_dist=float(min_dist),
                      max_dist=float(cutoff), radial_basis_size=radial_basis_size)
        mtp = replace(mtp, species_coeffs=rng.uniform(-5, 5, count),
                      moment_coeffs=rng.uniform(-5, 5, len(mtp.alpha_moment_mapping)),
                      radial_coeffs=rng.uniform(-0.1, 0.1, (count, count, mtp.radial_funcs_count,
                                                            radial_basis_size)))
        return cls(mtp, species, level, schedule=schedule)

    @classmethod
    def from_mtp_file(cls, path: Path, species: list[str]) -> "NativeMTP":
        """A potential from an MLIP .mtp file (MLIP does not store species: name them)."""
        return cls(read_mtp(path), species, level=0)

    @property
    def cutoff(self) -> float:
        return float(self.mtp.max_dist)

    @property
    def min_dist(self) -> float:
        return float(self.mtp.min_dist)

    @property
    def model(self) -> "_mtp.Model":
        """The core's model of the current coefficients (built once per change)."""
        if self._model is None:
            self._model = _core_model(self.mtp, self.mtp.parameters())
        return self._model

    def _basis_blocks(self) -> tuple[int, int, int]:
        moments, species = len(self.mtp.alpha_moment_mapping), self.mtp.species_count
        return moments, species, self.mtp.parameter_count - moments - species

    def _types(self, atoms: Atoms) -> np.ndarray:
        return np.argmax(atoms.numbers[:, None] == self._numbers, axis=1).astype(np.int32)

    def _evaluate(self, atoms: Atoms, with_basis: bool) -> Evaluation:
        if self._verlet is None:
            self._verlet = _mtp.VerletList(self.cutoff, VERLET_SKIN)
        result = _mtp.evaluate(self.model, self._types(atoms), _positions(atoms),
                               np.array(atoms.cell, dtype=float), atoms.pbc, True, with_basis,
                               self._verlet)
        stress = None
        if atoms.cell.rank == 3:
            stress = result["virial"][_VOIGT] / atoms.get_volume()
        return Evaluation(energy=float(result["energy"]), forces=result["forces"], stress=stress,
                          basis=result.get("basis"))

    def fit(self, train: list[Atoms], weights: dict[str, float], seed: int = 0,
            start: np.ndarray | None = None) -> "NativeMTP":
        """Pair start (or `start`, e.g. the previous generation's coefficients), least squares,
        early-stopped L-BFGS over all coefficients, least squares on every structure."""
        self.saved_in = None  # its saved files no longer describe it
        w = tuple(float(weights[name]) for name in ("energy", "forces", "stress"))
        held = holdout_indices(train, self.schedule.holdout if self.schedule.steps else 0)
        kept = np.setdiff1d(np.arange(len(train)), held)
        fitting = self.training_set([train[i] for i in kept])
        checking = self.training_set([train[i] for i in held]) if len(held) else None
        if start is None:
            parameters = self._pair_start(fitting, w)
        else:
            parameters = np.array(start, dtype=float)
            if parameters.shape != (self.mtp.parameter_count,):
                raise ValueError(f"a start of {parameters.size} coefficients for an MTP of "
                                 f"{self.mtp.parameter_count}")
        parameters = self._linear_fit([fitting], w, parameters)
        self.last_fit = None
        if self.schedule.steps > 0:
            model = _core_model(self.mtp, parameters)

            def loss_on(samples):
                def loss(x: np.ndarray, gradient: bool) -> tuple[float, np.ndarray]:
                    model.parameters = x
                    return samples.loss(model, *w, gradient)
                return loss

            moments, species, _ = self._basis_blocks()
            radial = np.zeros_like(parameters)
            radial[moments + species:] = 1.0
            self.last_fit = early_stopped(loss_on(fitting),
                                          None if checking is None else loss_on(checking),
                                          parameters, radial, self.schedule)
            logger.debug("native fit: %d L-BFGS iterations, kept %d (held-out loss %.6g)%s",
                         self.last_fit.iterations, self.last_fit.best_iteration,
                         self.last_fit.held_loss, ", stopped early" if self.last_fit.stopped_early
                         else "")
            parameters = self.last_fit.parameters
        self.set_parameters(self._linear_fit([fitting, checking], w, parameters))
        return self

    def training_set(self, train: list[Atoms]) -> "_mtp.TrainingSet":
        """The labelled structures with their neighbour lists, for the core's loss."""
        samples = _mtp.TrainingSet(self.cutoff)
        for atoms in train:
            results = atoms.calc.results
            periodic = atoms.cell.rank == 3
            stress = results.get("stress") if periodic else None
            if stress is not None:
                stress = np.asarray(stress, dtype=float)
                stress = _full(stress) if stress.shape == (6,) else stress.reshape(3, 3)
            forces = results.get("forces")
            samples.add(self._types(atoms), _positions(atoms), np.array(atoms.cell, dtype=float),
                        atoms.pbc, atoms.get_volume() if periodic else 0.0,
                        float(results["energy"]),
                        None if forces is None else np.asarray(forces, dtype=float), stress)
        return samples

    def _pair_start(self, samples, weights) -> np.ndarray:
        """MLIP's level-2 start: moment coefficients (1, 0, ...) and the best pair potential."""
        mtp = self.mtp
        parameters = mtp.parameters()
        first = mtp.alpha_moment_mapping[0]
        if first >= len(mtp.alpha_index_basic) or mtp.alpha_index_basic[first].any():
            return parameters  # the first basis function is not a pair term: nothing to start
        moments, species = len(mtp.alpha_moment_mapping), mtp.species_count
        parameters[:moments] = 0.0
        parameters[0] = 1.0
        hessian, rhs = samples.pair_normal_equations(_core_model(mtp, parameters), *weights)
        solution = _solve(hessian, rhs)
        radial = parameters[moments + species:].reshape(mtp.radial_coeffs.shape)
        radial[:, :, 0, :] = solution[:-species].reshape(species, species, -1)
        parameters[moments:moments + species] = solution[-species:]
        return parameters

    def _linear_fit(self, parts: list, weights, parameters: np.ndarray) -> np.ndarray:
        """Least squares in the moment and species coefficients (the loss is quadratic in them)
        over the structures of every part (None: an empty part)."""
        model = _core_model(self.mtp, parameters)
        parts = [part for part in parts if part is not None and len(part)]
        total = sum(len(part) for part in parts)
        hessian = rhs = 0.0
        for part in parts:  # each part's loss averages over its own structures
            h, y = part.normal_equations(model, *weights)
            hessian, rhs = hessian + h * (len(part) / total), rhs + y * (len(part) / total)
        parameters = parameters.copy()
        parameters[:len(rhs)] = _solve(hessian, rhs)
        return parameters

    def set_parameters(self, parameters: np.ndarray) -> None:
        """New coefficients, in the order of `MTPFile.parameters()`."""
        self.mtp = self.mtp.with_parameters(parameters)
        self._model = None

    def write_mtp(self, path: Path) -> None:
        write_mtp(path, self.mtp)

    @classmethod
    def _load(cls, directory: Path, metadata: dict) -> "NativeMTP":
        mtp = read_mtp(directory / metadata.get("mtp", MTP_FILE))
        return cls(mtp, metadata["species"], metadata.get("level", 0))

    def parameters(self) -> np.ndarray:
        """The coefficients, in the order `fit(start=...)` and `set_parameters` take them."""
        return self.mtp.parameters()


def _core_model(mtp: MTPFile, parameters: np.ndarray) -> "_mtp.Model":
    return _mtp.Model(mtp.species_count, mtp.radial_basis_size, mtp.radial_funcs_count,
                      mtp.min_dist, mtp.max_dist, mtp.scaling,
                      np.ascontiguousarray(mtp.alpha_index_basic, dtype=np.int32).reshape(-1, 4),
                      np.ascontiguousarray(mtp.alpha_index_times, dtype=np.int32).reshape(-1, 4),
                      np.ascontiguousarray(mtp.alpha_moment_mapping, dtype=np.int32),
                      mtp.alpha_moments_count, np.ascontiguousarray(parameters, dtype=float))


def _positions(atoms: Atoms) -> np.ndarray:
    return np.ascontiguousarray(atoms.positions, dtype=float)


def _full(voigt: np.ndarray) -> np.ndarray:
    xx, yy, zz, yz, xz, xy = voigt
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def _solve(hessian: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Normal equations, with a ridge of 1e-12 of the mean diagonal against exact degeneracy
    (a species absent from the data, linearly dependent moments)."""
    ridge = 1e-12 * max(np.trace(hessian) / len(rhs), 1e-300)
    matrix = hessian + ridge * np.eye(len(rhs))
    try:
        return cho_solve(cho_factor(matrix), rhs)
    except LinAlgError:
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]
