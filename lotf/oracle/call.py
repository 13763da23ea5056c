"""Oracle calls inside a worker process, each in its own working directory.

A worker runs calls one after another. It is the unit the pool kills: a hang past the timeout
or a crash costs that worker (and its process group, e.g. an mpirun the calculator started),
never the campaign; the pool then starts a fresh worker.
"""

import ctypes
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

from lotf.oracle.calculators import make_calculator


@dataclass
class CallTask:
    """What to label, with which calculator, where, and which attempt this is."""

    key: str
    atoms: Atoms
    calculator: str
    params: dict
    workdir: Path
    attempt: int


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


class NonFiniteResult(RuntimeError):
    """The calculator returned NaN or infinity."""


def compute(task: CallTask) -> CallOutcome:
    """Energy, forces and (for fully periodic cells) stress; raise if any is not finite."""
    atoms = task.atoms.copy()
    atoms.calc = make_calculator(task.calculator, task.params)
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces(), dtype=float)
    stress = None
    if atoms.pbc.all():
        try:
            stress = np.asarray(atoms.get_stress(voigt=True), dtype=float)
        except PropertyNotImplementedError:
            stress = None
    for name, value in (("energy", energy), ("forces", forces), ("stress", stress)):
        if value is not None and not np.all(np.isfinite(value)):
            raise NonFiniteResult(f"the calculator returned a non-finite {name}")
    return CallOutcome(energy, forces, stress)


def worker_main(connection, threads: int) -> None:
    """Entry point of a worker: receive tasks, send outcomes, until told to stop (None)."""
    os.setpgrp()  # the pool kills our whole group (e.g. an mpirun we started) on timeout
    _die_with_parent()
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


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies, so a killed campaign leaves no orphans."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
