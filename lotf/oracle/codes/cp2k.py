"""CP2K through ASE's cp2k_shell interface.

Diagonalisation with Fermi smearing and Broyden mixing: OT fails on metallic-looking amorphous
cells, and plain mixing oscillates for 100 steps on Li-P-S cells where Broyden converges in ~20.
CP2K only warns when its SCF does not converge; the output file is read for that warning.
"""

import os
from pathlib import Path

from ase.calculators.calculator import Calculator

from lotf.oracle.calculators import PROGRAM, Code, register

NOT_CONVERGED = "SCF run NOT converged"


class Cp2k(Code):
    """CP2K, its output checked for an SCF that ran out of steps."""

    install_hint = " (Debian: apt install cp2k; or set ASE_CP2K_COMMAND)"

    def default_command(self) -> str | None:
        return os.environ.get("ASE_CP2K_COMMAND", "cp2k_shell")

    def unconverged(self, calc: Calculator, workdir: Path) -> str | None:
        output = Path(workdir) / f"{calc.label}.out"
        if not output.is_file():
            return f"CP2K wrote no output file {output.name}, so its SCF cannot be checked"
        count = output.read_text(errors="replace").count(NOT_CONVERGED)
        if count:
            return (f"CP2K's SCF did not converge within max_scf={calc.parameters.max_scf} "
                    f"steps ('{NOT_CONVERGED}' in {output.name})")
        return None


INPUT = """&FORCE_EVAL
&DFT
&SCF
ADDED_MOS 50
&SMEAR ON
METHOD FERMI_DIRAC
ELECTRONIC_TEMPERATURE 300
&END SMEAR
&DIAGONALIZATION
ALGORITHM STANDARD
&END DIAGONALIZATION
&MIXING
METHOD BROYDEN_MIXING
ALPHA 0.2
NBROYDEN 8
&END MIXING
&END SCF
&END DFT
&END FORCE_EVAL"""

register("cp2k", Cp2k(
    "ase.calculators.cp2k", "CP2K", {"xc": "PBE", "max_scf": 100, "inp": INPUT,
                                     "label": "cp2k"},
    mpi=PROGRAM, program="cp2k_shell.psmp", launcher="mpirun -n {ranks}",
    # the shell keeps its working directory and last wavefunctions between calls
    reusable=False))
