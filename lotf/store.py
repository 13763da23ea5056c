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
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import ase.io
from ase import Atoms

from lotf.errors import DamagedFile, RunDirectoryBusy
from lotf.faults import checkpoint
from lotf.log import logger


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
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.filename is None:  # a write() call: say where
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    _fsync_directory(path.parent)
    checkpoint("write")


def _fsync_directory(path: Path) -> None:
    """Make a rename in `path` durable."""
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_structures(path: Path, structures: list[Atoms]) -> list[Atoms]:
    """Save structures as extxyz atomically and return them as read back (what a resume sees)."""
    atomic_write(path, lambda handle: ase.io.write(handle, structures, format="extxyz"))
    return read_structures(path)


def read_structures(path: Path) -> list[Atoms]:
    """All frames of an extxyz file; DamagedFile if it cannot be parsed."""
    try:
        return ase.io.read(path, index=":", format="extxyz")
    except OSError:
        raise
    except Exception as error:  # ASE's parser raises whatever a truncated line gives
        raise DamagedFile(f"{path} is damaged ({type(error).__name__}: {error}); it cannot be "
                          "recomputed here: restore it, or remove it and rerun the stage "
                          "that wrote it") from None


def read_trajectories(files: list[Path], reader: str) -> list[Atoms]:
    """Every frame of the files in order, a damaged file left out with a warning naming
    `reader` (what samples them, for the log)."""
    frames = []
    for path in files:
        try:
            frames += read_structures(path)
        except DamagedFile as error:
            logger.warning("%s: %s; sampling the other trajectories", reader, error)
    return frames


BOOTSTRAP_START = "bootstrap_start"  # a bootstrap frame's info: the initial structure whose
# oracle MD it comes from (the last one of each is where that structure's walkers start learning)


class RunDir:
    """A campaign's directory. Use `with run_dir.locked():` around anything that writes to it."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()

    config = property(lambda self: self.path / "campaign.yaml")
    state_file = property(lambda self: self.path / "state.json")
    ledger_file = property(lambda self: self.path / "ledger.db")
    structures = property(lambda self: self.path / "structures")
    potentials = property(lambda self: self.path / "potentials")
    oracle_calls = property(lambda self: self.path / "oracle")
    log_file = property(lambda self: self.path / "logs" / "lotf.log")
    results_file = property(lambda self: self.path / "results.json")
    figures = property(lambda self: self.path / "figures")
    calibration = property(lambda self: self.path / "calibration")
    # structures the stages hand on: built starts, bootstrap frames, learned cells, glasses
    initial_structures = property(lambda self: self.structures / "initial.extxyz")
    bootstrap_frames = property(lambda self: self.structures / "bootstrap.extxyz")
    learned_cells = property(lambda self: self.structures / "learned.extxyz")
    relaxed_crystal = property(lambda self: self.structures / "crystal-relaxed.extxyz")
    MELT_QUENCH = "melt-quench"  # the glass protocol's name: its folder and glasses file
    glasses = property(lambda self: self.structures / f"{self.MELT_QUENCH}.extxyz")
    melt_starts = property(lambda self: self.structures / f"{self.MELT_QUENCH}-start.extxyz")

    def resolve(self, relative: str | Path) -> Path:
        """A path state.json records relative to the run directory, made whole."""
        return self.path / relative

    def relative(self, path: Path) -> str:
        """How state.json records a path inside the run directory."""
        return str(path.relative_to(self.path))

    # --- learning: selections, harvests, restart points, trajectories ---------------------------
    def selection(self, generation: int) -> Path:
        """The structures a break of `generation` selected for labelling."""
        return self.structures / f"selected-gen-{generation:04d}.extxyz"

    def harvest(self, generation: int) -> Path:
        """Candidates kept while `generation`'s selection was being labelled."""
        return self.structures / f"harvest-gen-{generation:04d}.extxyz"

    def restart_point(self, phase: str, walker: int, segment: int | str) -> Path:
        """A walker's restart point in a phase after an MD segment."""
        return self.structures / "restarts" / phase / f"walker-{walker}.segment-{segment}.extxyz"

    def restart_points(self, phase: str, walker: int) -> list[Path]:
        """A walker's restart points in a phase, newest first."""
        folder = self.structures / "restarts" / phase
        return sorted(folder.glob(f"walker-{walker}.segment-*.extxyz"), key=os.path.getmtime,
                      reverse=True)

    def trajectory(self, phase: str, generation: int, segment: int, walker: int) -> Path:
        """The frames of one MD segment of a learning phase."""
        return self.path / "trajectories" / phase / \
            f"gen-{generation:04d}-{segment:04d}-walker-{walker}.extxyz"

    def trajectories(self, phase: str, generation: int | None = None,
                     walker: int | None = None) -> list[Path]:
        """A phase's trajectory files (of one generation, one walker), in segment order."""
        gen = "*" if generation is None else f"{generation:04d}"
        who = "*" if walker is None else str(walker)
        return sorted((self.path / "trajectories" / phase).glob(
            f"gen-{gen}-*-walker-{who}.extxyz"))

    def trajectory_phases(self) -> list[str]:
        """The learning phases that wrote trajectories."""
        return sorted(p.name for p in (self.path / "trajectories").glob("*/"))

    # --- protocols: schedules of chunks per replica -----------------------------------------
    def protocol(self, name: str) -> Path:
        """Where protocol `name` keeps its replicas."""
        return self.path / "protocols" / name

    def protocols(self) -> list[str]:
        """The protocols that ran here."""
        return sorted(p.name for p in (self.path / "protocols").glob("*/"))

    def replica(self, name: str, replica: int) -> Path:
        """Where a replica's chunks of protocol `name` are kept."""
        return self.protocol(name) / f"replica-{replica}"

    def replicas(self, name: str) -> list[int]:
        """The replicas of protocol `name` that have a folder, in order."""
        found = [int(p.name.split("-")[1]) for p in self.protocol(name).glob("replica-*")
                 if p.name.split("-")[1].isdigit()]
        return sorted(found)

    def chunk_state(self, name: str, replica: int, index: int) -> Path:
        """A replica's state after chunk `index` (the next chunk's start)."""
        return self.replica(name, replica) / f"state-{index:04d}.extxyz"

    def chunk_history(self, name: str, replica: int, index: int) -> Path:
        """A replica's thermo history of chunk `index`."""
        return self.replica(name, replica) / f"history-{index:04d}.json"

    def chunk_histories(self, name: str, replica: int) -> list[Path]:
        """A replica's chunk histories, in order."""
        return sorted(self.replica(name, replica).glob("history-*.json"))

    def chunk_trajectory(self, name: str, replica: int, index: int, step: str) -> Path:
        """The frames of chunk `index` (in schedule step `step`)."""
        return self.replica(name, replica) / f"chunk-{index:04d}-{step}.extxyz"

    def step_trajectories(self, name: str, replica: int, step: str) -> list[Path]:
        """The trajectory files of one schedule step of a replica, in order."""
        return sorted(self.replica(name, replica).glob(f"chunk-*-{step}.extxyz"))

    def figure(self, name: str) -> Path:
        """A figure's PNG (its SVG, PDF and CSV sit beside it)."""
        return self.figures / f"{name}.png"

    def exists(self) -> bool:
        """True once a campaign has been started here."""
        return self.config.is_file()

    @contextlib.contextmanager
    def locked(self) -> Iterator["RunDir"]:
        """Hold the directory's lock; a second lotf process on it gets RunDirectoryBusy.

        The lock is an flock on the directory itself, so deleting a file cannot release it, and
        the kernel releases it when a killed process dies. `.lock` only says who holds it.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        directory = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(directory, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(directory)
            owner = self._owner()
            raise RunDirectoryBusy(
                f"run directory {self.path} is in use by another lotf process ({owner}); "
                "wait for it to finish or stop it first"
            ) from None
        atomic_write(self.path / ".lock",
                     lambda handle: handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n"))
        try:
            yield self
        finally:
            fcntl.flock(directory, fcntl.LOCK_UN)
            os.close(directory)

    def _owner(self) -> str:
        """Who holds the lock, as its holder wrote it (or 'unknown')."""
        try:
            return (self.path / ".lock").read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def generation_dir(self, generation: int) -> Path:
        """Where potential generation N lives."""
        return self.potentials / f"gen-{generation:04d}"

    def latest_generation(self) -> int | None:
        """The newest complete potential generation (directories appear whole, by rename)."""
        found = [int(p.name[4:]) for p in self.potentials.glob("gen-[0-9][0-9][0-9][0-9]")]
        return max(found, default=None)

    def save_generation(self, generation: int, write: Callable[[Path], None]) -> Path:
        """Write a generation into a temporary folder, then rename it into place; one left by
        an interrupted training (never committed) is replaced."""
        target = self.generation_dir(generation)
        self.potentials.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.potentials, prefix=f".{target.name}."))
        write(scratch)
        if target.exists():
            stale = Path(tempfile.mkdtemp(dir=self.potentials, prefix=f".{target.name}.stale."))
            os.replace(target, stale / target.name)
            shutil.rmtree(stale)
        os.replace(scratch, target)
        _fsync_directory(self.potentials)
        checkpoint("write")
        return target

    @property
    def state_backup(self) -> Path:
        """The state as it was before its last write (a damaged state.json falls back to it)."""
        return self.path / "state.json.prev"

    def read_state(self) -> dict[str, Any]:
        """The campaign's state (from its backup if state.json is missing or damaged), or a
        fresh one if nothing ran yet. Reads only: `lotf.doctor` repairs."""
        for path in (self.state_file, self.state_backup):
            state = read_json(path)
            if isinstance(state, dict) and "stages" in state:
                return state
        return {"stage": None, "stages": {}, "generation": 0, "converged": False}

    def write_state(self, state: dict[str, Any]) -> None:
        """Replace the state file atomically, stamping the time; the replaced one becomes the
        backup (by a hard link, so there is never a moment without either)."""
        state = {**state, "updated": datetime.now(UTC).isoformat(timespec="seconds")}
        if self.state_file.is_file():
            link = self.path / f".{self.state_backup.name}.{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            os.link(self.state_file, link)
            os.replace(link, self.state_backup)
        atomic_write(self.state_file, lambda handle: json.dump(state, handle, indent=2))


def read_json(path: Path) -> Any:
    """A JSON file's content, or None if it is missing, unreadable or not valid JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
