"""Oracle calls inside a worker process, each in its own working directory.

A worker runs calls one after another. It is the unit the pool kills: a hang past the timeout
or a crash costs that worker (and its process group, e.g. an mpirun the calculator started),
never the campaign; the pool then starts a fresh worker.
"""

import ctypes
import json
import os
import pickle
import shlex
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError

from lotf.oracle.calculators import make_calculator, resolve
from lotf.oracle.code import PYTHON, Code

RANK_TASK, RANK_OUTCOME = "call.pickle", "outcome.pickle"  # a call on ranks: in, rank 0's out


@dataclass
class CallTask:
    """What to label, with which calculator on how many ranks, where, and which attempt this is."""

    key: str
    atoms: Atoms
    calculator: str
    params: dict
    workdir: Path
    attempt: int
    ranks: int = 1
    launcher: str | None = None
    reuse: bool | None = None  # keep the calculator for the next call (None: the code decides)


@dataclass
class CallOutcome:
    """The labels of one call, or why it failed."""

    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    error: str | None = None
    wall_time: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class UntrustedResult(RuntimeError):
    """The calculator returned, but its result is not a label: not converged, missing, not finite."""


_KEPT: dict[str, Calculator] = {}  # this worker's reusable calculators, by their settings


def compute(task: CallTask) -> CallOutcome:
    """The labels of one call, here or (for a Python code on several ranks) under the launcher."""
    code = resolve(task.calculator)
    if task.ranks > 1 and code.mpi == PYTHON:
        return _on_ranks(task, code)
    return label_with(_calculator(task, code), task, code)


def label_with(calc: Calculator, task: CallTask, code: Code) -> CallOutcome:
    """Energy, forces and (for periodic cells) stress, accepted only if the code says it
    converged and every value is present and finite; otherwise UntrustedResult."""
    atoms = task.atoms.copy()
    atoms.calc = calc
    try:
        energy = float(atoms.get_potential_energy())
    except Exception as error:  # a code that stops on an unconverged SCF (pw.x) says why
        reason = code.unconverged(calc, task.workdir)
        if reason:
            raise UntrustedResult(f"{reason}; the calculator raised {type(error).__name__}") \
                from error
        raise
    forces = np.asarray(atoms.get_forces(), dtype=float)
    stress = None
    if atoms.pbc.all():
        try:
            stress = np.asarray(atoms.get_stress(voigt=True), dtype=float)
        except PropertyNotImplementedError:
            raise UntrustedResult(f"calculator '{task.calculator}' gives no stress for a "
                                  "periodic cell") from None
    reason = code.unconverged(calc, task.workdir)
    if reason:
        raise UntrustedResult(reason)
    for name, value in (("energy", energy), ("forces", forces), ("stress", stress)):
        if value is not None and not np.all(np.isfinite(value)):
            raise UntrustedResult(f"the calculator returned a non-finite {name}")
    if forces.shape != (len(atoms), 3):
        raise UntrustedResult(f"the calculator returned forces of shape {forces.shape} for "
                              f"{len(atoms)} atoms")
    return CallOutcome(energy, forces, stress)


def _calculator(task: CallTask, code: Code) -> Calculator:
    """A new calculator, or this worker's kept one for the same settings, reset (task.reuse,
    else code.reusable; a calculator without ASE's `reset` is never kept)."""
    settings = json.dumps([task.calculator, task.params, task.ranks, task.launcher],
                          sort_keys=True, default=str)
    if settings in _KEPT:
        calc = _KEPT[settings]
        calc.reset()
        return calc
    calc = make_calculator(task.calculator, task.params, task.ranks, task.launcher)
    reuse = code.reusable if task.reuse is None else task.reuse
    if reuse and callable(getattr(calc, "reset", None)):
        _KEPT[settings] = calc
    return calc


def _on_ranks(task: CallTask, code: Code) -> CallOutcome:
    """Run the call under the launcher on `task.ranks` ranks of this Python; rank 0's outcome.

    The ranks stay in this worker's process group, so the pool's kill on timeout ends them too.
    """
    request, reply = task.workdir / RANK_TASK, task.workdir / RANK_OUTCOME
    reply.unlink(missing_ok=True)
    with open(request, "wb") as handle:
        pickle.dump(task, handle)
    here = str(Path(sys.executable).parent)  # this environment's mpiexec is the one its MPI needs
    environment = {**os.environ, **code.rank_environment,
                   "PATH": here + os.pathsep + os.environ.get("PATH", "")}
    launcher = (task.launcher or code.launcher).format(ranks=task.ranks)
    command = [*shlex.split(launcher), sys.executable, "-m", "lotf.oracle.ranks_call",
               str(task.workdir)]
    finished = subprocess.run(command, env=environment, cwd=task.workdir, check=False)
    if not reply.is_file():
        raise RuntimeError(f"the call on {task.ranks} ranks ('{launcher}') exited with code "
                           f"{finished.returncode} without a result; see oracle.out")
    with open(reply, "rb") as handle:
        return pickle.load(handle)


def worker_main(connection, threads: int) -> None:
    """Entry point of a worker: receive tasks, send outcomes, until told to stop (None)."""
    os.setpgrp()  # the pool kills our whole group (e.g. an mpirun we started) on timeout
    die_with_parent()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    while True:
        try:
            task = connection.recv()
        except EOFError:
            return
        if task is None:
            return
        connection.send(run_call(task))


def run_call(task: CallTask) -> CallOutcome:
    """One call in its working directory, its output going to oracle.out there."""
    task.workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(task.workdir)
    _redirect_output(task.workdir / "oracle.out")
    start = time.perf_counter()
    try:
        outcome = compute(task)
    except BaseException as error:  # any failure of the calculator is data, not a crash
        traceback.print_exc()
        outcome = CallOutcome(error=f"{type(error).__name__}: {error}".strip())
    outcome.wall_time = time.perf_counter() - start
    return outcome


def _redirect_output(path: Path) -> None:
    """Send this process's stdout/stderr, Python and C alike, to the call's log file."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies, so a killed campaign leaves no
    orphans, and to adopt its orphaned descendants (an MPI launcher's ranks that left our process
    group), so the pool finds them all below this worker when it kills it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
