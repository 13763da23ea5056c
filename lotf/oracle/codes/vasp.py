"""VASP, the paper's code: PBE PAW, 400 eV, Gamma point, no spin (Methods of paper 004).

Gaussian smearing of 0.05 eV and EDIFF 1e-6: VASP's own ISMEAR=1/SIGMA=0.2 is meant for
metals and shifts energies and forces of an ionic glass. No WAVECAR/CHGCAR is written (one
call per configuration, and a 96-atom WAVECAR is hundreds of MB per call). ASE reads VASP's
OUTCAR for whether the electronic loop reached EDIFF; a call that did not is a failed call.
"""

import os
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from lotf.oracle.code import PROGRAM, Code, register

COMMAND_VARIABLES = ("ASE_VASP_COMMAND", "VASP_COMMAND", "VASP_SCRIPT")  # ASE's, in its order
FOLDERS = {"PBE": "potpaw_PBE", "LDA": "potpaw", "PW91": "potpaw_GGA"}  # ASE's POTCAR folders


class Vasp(Code):
    """VASP through ASE: POTCARs and a command found before any call, OUTCAR read after it."""

    install_hint = " (set ASE_VASP_COMMAND, e.g. 'vasp_std', or oracle.params.command)"

    def default_command(self) -> str | None:
        return next((os.environ[v] for v in COMMAND_VARIABLES if os.environ.get(v)), None) \
            or self.program

    def command(self, params: dict[str, Any], ranks: int, launcher: str | None) -> str | None:
        if "command" in params or any(os.environ.get(v) for v in COMMAND_VARIABLES):
            return params.get("command")  # the user's own command wins (ASE reads the variable)
        prefix = (launcher or self.launcher).format(ranks=ranks) + " " if ranks > 1 else ""
        return f"{prefix}{self.program}"

    def missing(self, params: dict[str, Any], species: list[str]) -> str | None:
        root = os.environ.get("VASP_PP_PATH")
        if not root or not Path(root).is_dir():
            return ("VASP needs its PAW potentials: set VASP_PP_PATH to the folder that holds "
                    "potpaw_PBE/ (it is "
                    + (f"'{root}', not a folder)" if root else "unset)"))
        folder = Path(root) / FOLDERS.get(str(params.get("xc", "PBE")).upper(), "potpaw_PBE")
        setups = params.get("setups") if isinstance(params.get("setups"), dict) else {}
        lacking = [s for s in species if not any(
            (folder / f"{s}{setups.get(s, '')}" / name).is_file()
            for name in ("POTCAR", "POTCAR.Z", "POTCAR.gz"))]
        if lacking:
            return f"VASP_PP_PATH has no POTCAR for {', '.join(lacking)} under {folder}"
        return super().missing(params, species)

    def unconverged(self, calc: Calculator, workdir: Path) -> str | None:
        if getattr(calc, "converged", None) is not True:
            nelm = calc.int_params.get("nelm") or 60
            return f"VASP's electronic loop did not reach EDIFF within NELM={nelm} steps (OUTCAR)"
        return None


register("vasp", Vasp(
    "ase.calculators.vasp", "Vasp",
    {"xc": "PBE", "encut": 400, "kpts": [1, 1, 1], "gamma": True, "ispin": 1,
     "ismear": 0, "sigma": 0.05, "ediff": 1e-6, "nelm": 200, "prec": "Accurate",
     "algo": "Normal", "lreal": False, "lwave": False, "lcharg": False},
    mpi=PROGRAM, program="vasp_std", launcher="mpirun -n {ranks}"))
