"""Relax a structure's positions and cell with any ASE calculator (a crystal reference, before
its energy is set against the glass's): BFGS on ASE's UnitCellFilter at a given pressure.

Not the FrechetCellFilter ASE now recommends: its matrix exponential goes through SciPy's own
OpenBLAS, and once in a full test run that call never returned (100 % CPU in LAPACK's getrs on
a 3 x 3 matrix after 20 minutes of other tests in the process); UnitCellFilter needs NumPy
alone, whose linear algebra the fits use all the time. Both reach the same minimum."""

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.filters import UnitCellFilter
from ase.optimize import BFGS


@dataclass(frozen=True)
class Relaxed:
    """A relaxed structure and how far the relaxation got."""

    atoms: Atoms  # with a single-point result of the last step
    energy_per_atom: float  # eV
    converged: bool  # every force and the cell's stress inside the tolerance
    steps: int
    max_force: float  # eV/Å, the largest left


def relax(atoms: Atoms, calculator: Calculator, pressure_gpa: float = 0.0, fmax: float = 0.01,
          steps: int = 2000) -> Relaxed:
    """Positions and cell of a copy of `atoms` relaxed with `calculator` at `pressure_gpa`
    until every force (and the stress, scaled as the filter does) is under `fmax` eV/Å."""
    relaxed = atoms.copy()
    relaxed.calc = calculator
    cell_filter = UnitCellFilter(relaxed, scalar_pressure=pressure_gpa * units.GPa)
    optimizer = BFGS(cell_filter, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    energy = relaxed.get_potential_energy()
    max_force = float(np.linalg.norm(relaxed.get_forces(), axis=1).max())
    return Relaxed(relaxed, energy / len(relaxed), converged, optimizer.nsteps, max_force)
