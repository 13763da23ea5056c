"""A trained potential as an ASE calculator, so what a campaign learned relaxes a crystal, runs
ASE MD or a nudged elastic band like any other calculator:

    from lotf.calculator import MTP
    atoms.calc = MTP("runs/lps")           # a run directory: its newest committed generation
    atoms.calc = MTP("runs/lps/potentials/gen-0012")   # or one generation
    FIRE(FrechetCellFilter(atoms)).run(fmax=0.01)
    atoms.calc.max_grade                   # the largest extrapolation grade it was asked at

Each call also leaves the MTP extrapolation grade in `results["grade"]` (per atom in
`results["atom_grades"]`): above the campaign's break threshold the numbers are extrapolations.
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from lotf.errors import UserError
from lotf.learning.state import LearningState
from lotf.potential import Potential, load
from lotf.store import RunDir


class MTP(Calculator):
    """Energy, forces and stress of a lotf potential (a Potential, a generation directory or a
    run directory), with the extrapolation grade of every call."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, source: Potential | str | Path, generation: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.potential = source if isinstance(source, Potential) else \
            load(generation_directory(Path(source), generation))
        self.max_grade = 0.0  # the largest grade of any call so far (0 without an active set)

    def calculate(self, atoms: Atoms | None = None, properties=("energy",),
                  system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        try:
            result = self.potential.evaluate(self.atoms)
        except ValueError as reason:  # species the potential does not know
            raise UserError(f"lotf MTP calculator: {reason}") from None
        self.results = {"energy": result.energy, "free_energy": result.energy,
                        "forces": np.array(result.forces)}
        if result.stress is not None and self.atoms.cell.rank == 3:
            self.results["stress"] = np.array(result.stress)
        if result.grade is not None:
            self.results["grade"] = result.grade
            if result.atom_grades is not None:
                self.results["atom_grades"] = np.array(result.atom_grades)
            self.max_grade = max(self.max_grade, result.grade)


def generation_directory(path: Path, generation: int | None = None) -> Path:
    """The potential directory `path` names: itself if it holds a potential, else generation
    `generation` (default: the newest committed one) of the run directory at `path`."""
    if (path / "potential.json").is_file():
        if generation is not None:
            raise UserError(f"{path} is one potential; give a run directory to pick a generation")
        return path
    if not (path / "state.json").is_file():
        raise UserError(f"{path} is neither a lotf potential (potential.json) nor a run "
                        "directory (state.json)")
    committed = LearningState.read(RunDir(path)).committed()
    if not committed:
        raise UserError(f"{path}: no potential generation has been committed yet")
    chosen = committed[-1] if generation is None else generation
    if chosen not in committed:
        raise UserError(f"{path}: generation {chosen} was not committed (committed: "
                        f"{committed[0]}-{committed[-1]})")
    return path / "potentials" / f"gen-{chosen:04d}"

