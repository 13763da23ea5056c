"""CP2K through ASE's cp2k_shell interface.

Diagonalisation with Fermi smearing and Broyden mixing: OT fails on metallic-looking amorphous
cells, and plain mixing oscillates for 100 steps on Li-P-S cells where Broyden converges in ~20.
CP2K only warns when its SCF does not converge; the output file is read for that warning.
"""

import os
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from lotf.oracle.code import PROGRAM, Code, register

NOT_CONVERGED = "SCF run NOT converged"
DEBIAN_DATA = "/usr/share/cp2k"  # where Debian's cp2k-data puts BASIS_MOLOPT and POTENTIAL


class Cp2k(Code):
    """CP2K, its output checked for an SCF that ran out of steps."""

    install_hint = " (Debian: apt install cp2k; or set ASE_CP2K_COMMAND)"

    def default_command(self) -> str | None:
        return os.environ.get("ASE_CP2K_COMMAND", "cp2k_shell")

    def missing(self, params: dict[str, Any], species: list[str]) -> str | None:
        """The program, then the basis set of every species in CP2K's basis file."""
        found = super().missing(params, species)
        if found:
            return found
        from ase.calculators.cp2k import CP2K

        settings = {**CP2K.default_parameters, **params}
        name, file = settings.get("basis_set"), settings.get("basis_set_file")
        folder = Path(os.environ.get("CP2K_DATA_DIR") or DEBIAN_DATA)
        path = Path(file) if file and Path(file).is_absolute() else folder / str(file)
        if not name or not file or not folder.is_dir():
            return None  # CP2K's own compiled-in data folder: it will say
        if not path.is_file():
            return f"CP2K's basis file {file} is not in {folder} (set CP2K_DATA_DIR)"
        lacking = sorted(set(species) - _elements_with(path, name))
        if lacking:
            return (f"{path} has no {name} basis for {', '.join(lacking)}: choose another "
                    "oracle.params.basis_set")
        return None

    def unconverged(self, calc: Calculator, workdir: Path) -> str | None:
        output = Path(workdir) / f"{calc.label}.out"
        if not output.is_file():
            return f"CP2K wrote no output file {output.name}, so its SCF cannot be checked"
        count = output.read_text(errors="replace").count(NOT_CONVERGED)
        if count:
            return (f"CP2K's SCF did not converge within max_scf={calc.parameters.max_scf} "
                    f"steps ('{NOT_CONVERGED}' in {output.name})")
        return None


def _elements_with(path: Path, basis: str) -> set[str]:
    """The elements whose entry in a CP2K basis file carries this basis name (or alias)."""
    elements = set()
    for line in path.read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].isalpha() and basis in words[1:]:
            elements.add(words[0])
    return elements


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
