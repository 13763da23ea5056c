"""Quantum ESPRESSO's pw.x through ASE's profile: forces and stress asked for, smearing on.

lotf builds ASE's EspressoProfile itself (program, launcher and `pseudo_dir`), so no ASE
configuration file is needed. pw.x stops an unconverged SCF with 'convergence NOT achieved';
its output is read for that.
"""

import os
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from lotf.oracle.code import PROGRAM, Code, register

NOT_CONVERGED = "convergence NOT achieved"
OUTPUT = "espresso.pwo"  # ASE's name for pw.x's output


class Espresso(Code):
    """pw.x: pseudopotentials checked before any call, output read after it."""

    install_hint = " (Debian: apt install quantum-espresso)"

    def merged(self, defaults: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """input_data is merged per namelist, so a campaign's ecutwfc keeps tprnfor/tstress."""
        ours, theirs = defaults.get("input_data", {}), params.get("input_data") or {}
        input_data = {name: {**ours.get(name, {}), **theirs.get(name, {})}
                      for name in {*ours, *theirs}}
        return {**defaults, **params, "input_data": input_data}

    def with_command(self, params: dict[str, Any], command: str | None) -> dict[str, Any]:
        from ase.calculators.espresso import EspressoProfile

        settings = {k: v for k, v in params.items() if k not in ("command", "pseudo_dir")}
        profile = EspressoProfile(command=command or self.program,
                                  pseudo_dir=pseudo_dir(params))
        return {**settings, "profile": profile}

    def command(self, params: dict[str, Any], ranks: int, launcher: str | None) -> str | None:
        if "command" in params:
            return params["command"]
        prefix = (launcher or self.launcher).format(ranks=ranks) + " " if ranks > 1 else ""
        return f"{prefix}{self.program}"

    def missing(self, params: dict[str, Any], species: list[str]) -> str | None:
        folder = pseudo_dir(params)
        files = params.get("pseudopotentials") or {}
        lacking = [s for s in species if s not in files]
        if lacking:
            return ("oracle.params.pseudopotentials must name a pseudopotential file for "
                    f"{', '.join(lacking)} (e.g. {{{lacking[0]}: {lacking[0]}.pbe-n-kjpaw.UPF}})")
        absent = [f for f in (files[s] for s in species) if not (folder / f).is_file()]
        if absent:
            return (f"the pseudopotential file(s) {', '.join(absent)} are not in {folder} "
                    "(oracle.params.pseudo_dir, or ESPRESSO_PSEUDO)")
        return super().missing(params, species)

    def unconverged(self, calc: Calculator, workdir: Path) -> str | None:
        output = Path(workdir) / OUTPUT
        if output.is_file() and NOT_CONVERGED in output.read_text(errors="replace"):
            electrons = calc.parameters.get("input_data", {}).get("electrons", {})
            steps = electrons.get("electron_maxstep", 100)
            return f"pw.x's SCF did not converge within electron_maxstep={steps} ({OUTPUT})"
        return None


def pseudo_dir(params: dict[str, Any]) -> Path:
    """Where pw.x finds the pseudopotentials: the campaign's, ESPRESSO_PSEUDO, or QE's default."""
    chosen = params.get("pseudo_dir") or os.environ.get("ESPRESSO_PSEUDO")
    return Path(chosen).expanduser() if chosen else Path.home() / "espresso" / "pseudo"


register("espresso", Espresso(
    "ase.calculators.espresso", "Espresso",
    {"input_data": {"control": {"tprnfor": True, "tstress": True},
                    "system": {"ecutwfc": 30.0, "occupations": "smearing",
                               "smearing": "gaussian", "degauss": 0.005},
                    "electrons": {"conv_thr": 1e-8, "mixing_beta": 0.3}},
     "kpts": None},
    mpi=PROGRAM, program="pw.x", launcher="mpirun -n {ranks}"))
