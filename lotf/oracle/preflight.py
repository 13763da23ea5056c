"""Pre-flight of the oracle: everything that would make its first call fail, found before it is paid for.

`lotf validate` and `lotf run` (before its first stage) check that the code's program and data
exist on this machine (Code.missing), that the calculator can be constructed with the campaign's
parameters, and, for a Python code on several ranks, that the launcher gives it one MPI world.
"""

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lotf.errors import UserError
from lotf.oracle.calculators import make_calculator, parameters, resolve
from lotf.oracle.code import PROGRAM, PYTHON
from lotf.oracle.settings import Oracle

PROBE_SECONDS = 300.0


def preflight(oracle: Oracle, species: list[str]) -> None:
    """Raise UserError, one sentence naming the oracle key, if a call could not run here."""
    name, code = oracle.calculator, resolve(oracle.calculator)
    reason = code.missing(parameters(name, oracle.params), species)
    if reason:
        raise UserError(f"oracle.calculator '{name}': {reason}")
    with tempfile.TemporaryDirectory(prefix="lotf-preflight-") as scratch, \
            contextlib.chdir(scratch):  # a calculator may open its output file when built
        try:
            make_calculator(name, oracle.params, oracle.ranks, oracle.launcher)
        except Exception as error:  # whatever the calculator says about its parameters
            raise UserError(f"oracle.params: calculator '{name}' cannot be built with these "
                            f"parameters ({type(error).__name__}: {error})") from None
    if oracle.ranks > 1:
        launcher = (oracle.launcher or code.launcher).format(ranks=oracle.ranks)
        if code.mpi == PROGRAM:
            first = shlex.split(launcher)[0]
            if shutil.which(first) is None:
                raise UserError(f"oracle.launcher: '{first}' is not on PATH")
        if code.mpi == PYTHON and code.communicator:
            _probe(code.communicator, oracle.ranks, launcher, code.rank_environment)


def _probe(communicator: str, ranks: int, launcher: str, environment: dict[str, str]) -> None:
    """Start the launcher with the code's MPI and check every rank sees a world of `ranks`
    (a launcher of another MPI library starts `ranks` separate one-rank worlds)."""
    module, _, attribute = communicator.partition(":")
    here = str(Path(sys.executable).parent)
    command = [*shlex.split(launcher), sys.executable, "-c",
               f"import os; from {module} import {attribute} as w; "
               "os.write(1, f'<world {w.size}>'.encode())"]  # one write: ranks do not interleave
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_SECONDS,
                              env={**os.environ, **environment,
                                   "PATH": here + os.pathsep + os.environ.get("PATH", "")})
    except FileNotFoundError:
        raise UserError(f"oracle.launcher: '{command[0]}' is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"oracle.launcher: '{launcher}' did not start {ranks} ranks within "
                        f"{PROBE_SECONDS:g} s") from None
    sizes = [int(size) for size in re.findall(r"<world (\d+)>", done.stdout)]
    if done.returncode or sizes != [ranks] * ranks:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"oracle.launcher: '{launcher}' did not give {module} one MPI world of "
                        f"{ranks} ranks (world sizes {sizes or 'none'}, exit code "
                        f"{done.returncode}: {tail}); use this environment's mpiexec, or the "
                        "launcher of the MPI library the code was built with")
