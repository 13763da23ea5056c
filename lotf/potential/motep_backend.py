"""MTP through motep (MIT; MLIP-compatible files; C engine): lotf's first potential backend.

Fitting follows what is cheap with motep: a level-2 MTP and linear least squares for the
radial, species and moment coefficients, then a bounded L-BFGS refinement of all of them,
then least squares again for the linear coefficients.
"""

import contextlib
import io
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers

from lotf.log import logger
from lotf.potential.base import Evaluation
from lotf.potential.mtp_file import level_file
from lotf.potential.mtp_jacobian import SiteEnergyJacobian
from lotf.potential.mtp_potential import MTP_FILE, MTPPotential
from lotf.potential.schedule import DEFAULT, FitSchedule

# motep logs every optimiser step, and a warning for each short distance, which lotf's grade
# and explosion checks already cover; its errors still pass.
logging.getLogger("motep").setLevel(logging.ERROR)


def level_definition(level: int):
    """The untrained MTP of a level (its moment tensors and contractions) as motep data."""
    from motep.io.mlip.mtp import read_mtp

    with level_file(level) as path:
        return read_mtp(path)


class MotepMTP(MTPPotential):
    """A moment tensor potential evaluated and fitted by motep's C engine."""

    backend = "motep"

    def __init__(self, data, species: list[str], level: int, active_set=None,
                 schedule: FitSchedule = DEFAULT):
        super().__init__(species, active_set)
        self.data, self.level = data, level
        self.fit_steps = schedule.steps  # motep's trainer has no held-out stop nor ridge
        self.data.species = [atomic_numbers[s] for s in species]
        self._engine = self._jacobian = None

    @classmethod
    def create(cls, species: list[str], level: int = 12, cutoff: float = 5.0,
               min_dist: float = 1.0, radial_basis_size: int = 8, seed: int = 0,
               schedule: FitSchedule = DEFAULT) -> "MotepMTP":
        """An untrained MTP; its coefficients are random until `fit`."""
        data = level_definition(level)
        data.radial_basis = replace(data.radial_basis, min=float(min_dist), max=float(cutoff),
                                    size=radial_basis_size)
        data.species = [atomic_numbers[s] for s in species]
        data.species_count = len(species)
        data.initialize(np.random.default_rng(seed))
        return cls(data, species, level, schedule=schedule)

    @property
    def cutoff(self) -> float:
        return float(self.data.radial_basis.max)

    @property
    def min_dist(self) -> float:
        return float(self.data.radial_basis.min)

    def _basis_blocks(self) -> tuple[int, int, int]:
        data = self.data
        return (len(data.alpha_moment_mapping), data.species_count,
                data.species_count**2 * data.radial_funcs_count * data.radial_basis.size)

    def _engine_for_run(self):
        if self._engine is None:
            from motep.potentials.mtp.cext.engine import CExtMTPEngine

            self._engine = CExtMTPEngine(self.data, mode="run")
            self._jacobian = SiteEnergyJacobian(self.data)
        return self._engine

    def _evaluate(self, atoms: Atoms, with_basis: bool) -> Evaluation:
        engine = self._engine_for_run()
        if engine.neighbor_list is not None and len(engine.neighbor_list.cutoffs) != len(atoms):
            engine.neighbor_list = None  # motep sizes its neighbour list for the first cell only
        results = engine.calculate(atoms)
        stress = np.array(results["stress"]) if atoms.cell.rank == 3 else None
        basis = None
        if with_basis:  # on the engine's own neighbour list (private in the pinned motep 0.2.0)
            itypes = np.argmax(atoms.numbers[:, None] == self._numbers, axis=1)
            basis = self._jacobian(itypes, engine._neighbors,
                                   engine._get_interatomic_vectors(atoms))
        return Evaluation(energy=float(results["energy"]), forces=np.array(results["forces"]),
                          stress=stress, basis=basis)

    def fit(self, train: list[Atoms], weights: dict[str, float], seed: int = 0,
            start: np.ndarray | None = None) -> "MotepMTP":
        """Level-2 + least squares, bounded L-BFGS over all coefficients, least squares again
        (motep's trainer always starts from its level-2 fit: no `start`)."""
        self.saved_in = None  # its saved files no longer describe it
        from motep.train.trainer import Trainer

        if start is not None:
            raise ValueError("motep's trainer starts from its own level-2 fit, not from given "
                             "coefficients")

        steps = [{"method": "Level2MTP"}, {"method": "LLS"}]
        if self.fit_steps > 0:
            steps += [{"method": "minimize",
                       "kwargs": {"method": "L-BFGS-B", "options": {"maxiter": self.fit_steps}}},
                      {"method": "LLS"}]
        loss = {f"{name}_weight": float(weights[name]) for name in ("energy", "forces", "stress")}
        # motep writes intermediate .mtp files into the working directory: give it a scratch one
        timings = io.StringIO()  # motep prints step timings to stdout: keep them for the debug log
        with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch), \
                contextlib.redirect_stdout(timings):
            Trainer(self.data, seed=seed + 1, loss=loss, steps=steps).train(
                [_labelled_copy(atoms) for atoms in train])
        logger.debug("motep fit: %s", " | ".join(timings.getvalue().split("\n")).strip())
        self._engine = self._jacobian = None  # parameters changed
        return self

    def write_mtp(self, path: Path) -> None:
        from motep.io.mlip.mtp import write_mtp

        write_mtp(path, self.data, legacy=True)

    @classmethod
    def _load(cls, directory: Path, metadata: dict) -> "MotepMTP":
        from motep.io.mlip.mtp import read_mtp

        data = read_mtp(directory / metadata.get("mtp", MTP_FILE))
        return cls(data, metadata["species"], metadata.get("level", 0))

    @classmethod
    def from_mtp_file(cls, path: Path, species: list[str]) -> "MotepMTP":
        """A potential from an MLIP .mtp file (MLIP does not store species: name them)."""
        from motep.io.mlip.mtp import read_mtp

        data = read_mtp(path)
        if data.species_count != len(species):
            raise ValueError(f"{path} has {data.species_count} species; {len(species)} were named")
        return cls(data, species, level=0)


def _labelled_copy(atoms: Atoms) -> Atoms:
    """A copy carrying the labels (motep replaces the calculator of what it trains on)."""
    copy = atoms.copy()
    labels = {k: v for k, v in atoms.calc.results.items() if k in ("energy", "forces", "stress")}
    copy.calc = SinglePointCalculator(copy, **labels)
    return copy
