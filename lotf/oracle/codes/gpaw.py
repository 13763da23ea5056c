"""GPAW: the paper's level of theory (PBE, 400 eV plane waves, Gamma point, no spin).

The legacy calculator is the default: it runs one call on several ranks without ScaLAPACK
(GPAW's new one does not) and gives the same energy on 1 and 2 ranks (to 1e-11 eV, measured).
An SCF that reaches `maxiter` raises KohnShamConvergenceError, so the call fails loudly.
"""

import os
import sys
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator

from lotf.oracle.code import PYTHON, Code, register


class Gpaw(Code):
    """GPAW, with its PAW setups checked before any call."""

    def missing(self, params: dict[str, Any], species: list[str]) -> str | None:
        xc = params.get("xc", "LDA")
        setups = params.get("setups")
        if not isinstance(xc, str) or setups not in (None, "paw"):
            return None  # custom functionals or setups: GPAW itself will say
        folders = [Path(p) for p in os.environ.get("GPAW_SETUP_PATH", "").split(os.pathsep) if p]
        try:
            from gpaw import setup_paths
            folders += [Path(p) for p in setup_paths]
        except ImportError:
            pass
        lacking = [s for s in species
                   if not any((folder / f"{s}.{xc}{ext}").is_file()
                              for folder in folders for ext in ("", ".gz"))]
        if lacking:
            where = ", ".join(str(f) for f in folders) or "no folder (GPAW_SETUP_PATH is unset)"
            return (f"GPAW has no {xc} PAW setup for {', '.join(lacking)} in {where}: install "
                    "Debian's gpaw-data and set GPAW_SETUP_PATH=/usr/share/gpaw-setups, "
                    "or run gpaw install-data")
        return None

    def enter_group(self) -> None:
        """GPAW reads its MPI backend when `gpaw` is imported (ASE's plugin search does that
        early) and starts it with `gpaw.mpi`, which refuses ASE's world of one that lotf's
        ranks keep (their ASE writes files alone): it is imported here, ASE's world unset."""
        import ase.parallel

        super().enter_group()
        if "gpaw" in sys.modules:
            sys.modules["gpaw"].GPAW_MPI_BACKEND = self.group_environment["GPAW_MPI_BACKEND"]
        kept, ase.parallel.world.comm = ase.parallel.world.comm, None
        try:
            import gpaw.mpi  # noqa: F401
        finally:
            ase.parallel.world.comm = kept

    def unconverged(self, calc: Calculator, workdir: Path) -> str | None:
        scf = getattr(calc, "scf", None)
        if scf is not None and getattr(scf, "converged", True) is False:
            return "GPAW's SCF did not converge"
        return None


register("gpaw", Gpaw(
    "gpaw", "GPAW",
    {"mode": {"name": "pw", "ecut": 400.0}, "xc": "PBE", "kpts": [1, 1, 1],
     "occupations": {"name": "fermi-dirac", "width": 0.05}, "maxiter": 300,
     "legacy_gpaw": True, "txt": "gpaw.txt"},
    package="gpaw", mpi=PYTHON, versioned=True,
    # reusing a GPAW calculator starts the next SCF from the last wavefunctions
    reusable=False, rank_environment={"GPAW_MPI_BACKEND": "cgpaw"},
    communicator="gpaw.mpi:world", group_keyword="communicator",
    group_wrapper="gpaw.mpi4pywrapper:MPI4PYWrapper",
    group_environment={"GPAW_MPI_BACKEND": "mpi4py"}))
