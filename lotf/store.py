"""The run directory: one per campaign, with a lock, an atomically written state, and its files.

Layout::

    campaign.yaml      the config the campaign runs with
    state.json         stages done, generation, convergence (written atomically)
    ledger.db          labelled data (ASE SQLite database)
    structures/        initial and candidate structures (extxyz)
    potentials/        potentials by generation
    oracle/            one working directory per oracle call
    logs/lotf.log      the full log
"""

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import ase.io
from ase import Atoms

from lotf.errors import RunDirectoryBusy, UserError


def atomic_write(path: Path, write: Callable[[IO], None], mode: str = "w") -> None:
    """Write through `write(file)` into a temporary sibling, fsync, rename over `path`, fsync dir.

    A reader, or a campaign resumed after a kill, sees the old file or the new one, never half.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_structures(path: Path, structures: list[Atoms]) -> list[Atoms]:
    """Save structures as extxyz atomically and return them as read back (what a resume sees)."""
    atomic_write(path, lambda handle: ase.io.write(handle, structures, format="extxyz"))
    return read_structures(path)


def read_structures(path: Path) -> list[Atoms]:
    """All frames of an extxyz file."""
    return ase.io.read(path, index=":", format="extxyz")


class RunDir:
    """A campaign's directory. Use `with run_dir.locked():` around anything that writes to it."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        self._lock_handle: IO | None = None

    config = property(lambda self: self.path / "campaign.yaml")
    state_file = property(lambda self: self.path / "state.json")
    ledger_file = property(lambda self: self.path / "ledger.db")
    structures = property(lambda self: self.path / "structures")
    potentials = property(lambda self: self.path / "potentials")
    oracle_calls = property(lambda self: self.path / "oracle")
    log_file = property(lambda self: self.path / "logs" / "lotf.log")

    def exists(self) -> bool:
        """True once a campaign has been started here."""
        return self.config.is_file()

    @contextlib.contextmanager
    def locked(self) -> Iterator["RunDir"]:
        """Hold the directory's lock; a second lotf process on it gets RunDirectoryBusy.

        The lock is an flock, so the kernel releases it when a killed process dies.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / ".lock", "a+")  # noqa: SIM115 (held until the block ends)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise RunDirectoryBusy(
                f"run directory {self.path} is in use by another lotf process ({owner}); "
                "wait for it to finish or stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        handle.flush()
        self._lock_handle = handle
        try:
            yield self
        finally:
            self._lock_handle = None
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def generation_dir(self, generation: int) -> Path:
        """Where potential generation N lives."""
        return self.potentials / f"gen-{generation:04d}"

    def latest_generation(self) -> int | None:
        """The newest complete potential generation (directories appear whole, by rename)."""
        found = [int(p.name[4:]) for p in self.potentials.glob("gen-[0-9][0-9][0-9][0-9]")]
        return max(found, default=None)

    def save_generation(self, generation: int, write: Callable[[Path], None]) -> Path:
        """Write a generation into a temporary folder, then rename it into place."""
        target = self.generation_dir(generation)
        self.potentials.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.potentials, prefix=f".{target.name}."))
        write(scratch)
        os.replace(scratch, target)
        return target

    def read_state(self) -> dict[str, Any]:
        """The campaign's state, or a fresh one if nothing ran yet."""
        if not self.state_file.is_file():
            return {"stage": None, "stages": {}, "generation": 0, "converged": False}
        try:
            return json.loads(self.state_file.read_text())
        except json.JSONDecodeError as error:
            raise UserError(f"{self.state_file} is not valid JSON ({error})") from None

    def write_state(self, state: dict[str, Any]) -> None:
        """Replace the state file atomically, stamping the time."""
        state = {**state, "updated": datetime.now(UTC).isoformat(timespec="seconds")}
        atomic_write(self.state_file, lambda handle: json.dump(state, handle, indent=2))
