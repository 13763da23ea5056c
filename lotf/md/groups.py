"""MD on groups of the campaign's own MPI ranks, for `mpiexec -n N lotf run` and `srun lotf run`.

World rank 0 is the controller: it alone runs the campaign (run directory, ledger, oracle,
fits, decisions). With `oracle.executor: mpi` the next `oracle.workers x oracle.ranks` ranks
serve oracle calls (lotf.oracle.mpi_pool). The rest are split into groups of `md.ranks`; a
group waits for MD
runs, runs each in LAMMPS on its own communicator (the cell split over its ranks by
`pair_style mtp`) and its first rank sends the MDResult back. Nothing starts per run, and up
to one run per group goes on at a time, so the walkers of a phase explore concurrently.

SIGINT and SIGTERM, which mpiexec and srun pass to every rank, stop the controller as they
would stop a campaign alone, and stop each group's MD at the same step on all its ranks; the
controller then tells every group to stop, or, if a group does not answer within STOP_GRACE
seconds, aborts the job (nothing a group holds is committed, so nothing is lost).

The potential travels as its saved files, so the groups need no shared disk but for the
trajectories and logs they write into the run directory.
"""

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ase import Atoms

from lotf import interrupts
from lotf.errors import UserError
from lotf.md.library import _preload, serial_ase

if TYPE_CHECKING:  # lotf.md.run imports this module; the CLI imports it before any numerics
    from lotf.md.session import MDResult, MDSettings
    from lotf.potential import Potential

WORLD_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")
TASK, RESULT, STOP = 1, 2, 3  # message tags
POLL_SECONDS = 0.005  # how often a waiting rank looks for a message (a blocking wait would
# hold off the controller's signal handler, and keep an idle rank spinning in MPI's progress loop)
EXIT_INTERRUPTED, EXIT_USER_ERROR = 130, 2
STOP_GRACE = 10.0  # seconds an interrupted controller waits for its groups to stop their MD
INTERRUPTED = "interrupted"  # a group's answer when a signal stopped its run

_active: "Groups | None" = None


@dataclass(frozen=True)
class Layout:
    """How the job's ranks are shared: one controller, `oracle_groups` groups of `oracle_ranks`
    (oracle.executor: mpi), then MD groups of `md_ranks` (none: MD runs on the controller)."""

    md_ranks: int
    oracle_groups: int = 0
    oracle_ranks: int = 1

    @property
    def oracle_size(self) -> int:
        return self.oracle_groups * self.oracle_ranks

    def problem(self, size: int) -> str | None:
        """Why a job of `size` ranks cannot be shared this way, or None."""
        left = size - 1 - self.oracle_size
        alone = self.oracle_groups and self.md_ranks == 1  # MD may run on the controller
        if left >= 0 and left % self.md_ranks == 0 and (left or alone):
            return None
        parts = "one controller"
        if self.oracle_groups:
            parts += (f", oracle groups of {self.oracle_ranks} rank"
                      f"{'s' if self.oracle_ranks > 1 else ''} (oracle.workers = "
                      f"{self.oracle_groups}, oracle.ranks = {self.oracle_ranks})")
        first = 1 + self.oracle_size + (0 if alone else self.md_ranks)
        sizes = ", ".join(str(first + k * self.md_ranks) for k in range(2))
        return (f"lotf run has {size} MPI ranks, but runs as {parts} and groups of md.ranks = "
                f"{self.md_ranks}: start it on {sizes}, ... ranks")


def layout_of(config) -> Layout:
    """The layout a campaign's config asks for (its md.ranks and, for executor mpi, oracle)."""
    oracle = config.oracle
    if oracle.executor != "mpi":
        return Layout(config.md.ranks)
    return Layout(config.md.ranks, oracle.workers, oracle.ranks)


def check_launch(config) -> None:
    """Refuse, before anything runs, a campaign whose oracle needs ranks this job lacks."""
    if config.oracle.executor == "mpi" and (_active is None or _active.oracle is None):
        raise UserError("oracle.executor: mpi runs the oracle calls on ranks of lotf's own MPI "
                        "job, but lotf run was started as one process: start it with mpiexec "
                        "-n N or srun, with N = 1 + oracle.workers x oracle.ranks (+ md.ranks "
                        "per MD group)")


@dataclass(frozen=True)
class MDJob:
    """One MD run for a group: where it starts, how it runs, where its files go."""

    atoms: Atoms
    settings: "MDSettings"
    trajectory: Path | None = None
    log_file: Path | None = None


def launched_ranks() -> int:
    """How many ranks the launcher says this job has (1 when started without one)."""
    values = [os.environ.get(name, "") for name in WORLD_SIZE_VARIABLES[:3]]
    if os.environ.get("SLURM_STEP_ID") is not None:  # srun sets SLURM_NTASKS for the step;
        values.append(os.environ.get("SLURM_NTASKS", ""))  # sbatch's shell sees the job's
    return max([int(value) for value in values if value.isdigit()] or [1])


def active() -> "Groups | None":
    """The groups this controller hands MD runs to, when the campaign runs under MPI."""
    return _active


def join(layout_of: Callable[[], Layout]) -> "Groups | None":
    """Under a launcher, take this rank's part: the controller (world rank 0) gets the groups
    and goes on with the campaign; every other rank serves MD runs or oracle calls until told
    to stop, then exits. `layout_of` (run on rank 0 alone) reads the layout from the campaign;
    if it raises, every rank exits and rank 0 re-raises. None when not launched on several
    ranks."""
    global _active
    launched = launched_ranks()
    if launched == 1:
        return None
    world = _world(launched)
    rank, size = world.Get_rank(), world.Get_size()
    failure, layout = None, None
    if rank == 0:
        try:
            layout = layout_of()
            if layout.problem(size):
                raise UserError(layout.problem(size))
        except BaseException as error:  # re-raised below, once the other ranks know
            failure, layout = error, None
    layout = world.bcast(layout, root=0)
    from mpi4py import MPI

    color = MPI.UNDEFINED if rank == 0 or layout is None else _color(layout, rank)
    group = world.Split(color, rank)  # collective: every rank takes part
    if rank != 0:
        if layout is not None and rank <= layout.oracle_size:
            from lotf.oracle.mpi_pool import serve

            serve(world, group)
        elif layout is not None:
            _serve(world, group)
        raise SystemExit(0 if layout is not None else EXIT_USER_ERROR)
    if failure is not None:
        raise failure
    _active = Groups(world, layout)
    return _active


def _color(layout: Layout, rank: int) -> int:
    """The group a (non-controller) rank belongs to: oracle groups first, then MD groups."""
    if rank <= layout.oracle_size:
        return (rank - 1) // layout.oracle_ranks
    return layout.oracle_groups + (rank - 1 - layout.oracle_size) // layout.md_ranks


def _world(launched: int):
    """mpi4py's COMM_WORLD, checked to hold the `launched` ranks the launcher started."""
    if any(name.startswith("PMIX_") for name in os.environ) or \
            "OMPI_COMM_WORLD_SIZE" in os.environ:  # MPICH would abort in MPI_Init, unexplained
        raise UserError(
            f"lotf run was started on {launched} ranks by a PMIx launcher (Open MPI's mpirun, "
            "or srun --mpi=pmix), but each rank's MPI world needs the PMI of lotf's MPI library "
            "(MPICH): start it with the mpiexec beside lotf's python, or with srun --mpi=pmi2")
    _preload()  # mpi4py and LAMMPS must share the MPI library the mpich wheel installed
    try:
        from mpi4py import MPI
    except ImportError:
        raise UserError(f"lotf run was started on {launched} MPI ranks, which needs mpi4py: "
                        "pip install mpi4py (or lotf[cluster])") from None
    world = MPI.COMM_WORLD
    _abort_on_uncaught(world)
    serial_ase()  # the controller reads and writes its files alone
    if world.Get_size() != launched:
        raise UserError(
            f"lotf run was started on {launched} ranks, but each rank's MPI world has "
            f"{world.Get_size()}: the launcher does not speak to lotf's MPI library "
            f"({MPI.Get_library_version().splitlines()[0].strip()}); start it with the mpiexec "
            "beside lotf's python, or with srun --mpi=pmi2")
    return world


def _abort_on_uncaught(world) -> None:
    """An exception no one catches ends the whole job, not only its rank: the others would
    wait for it in MPI for ever."""
    show = sys.excepthook

    def abort(kind, value, trace) -> None:
        show(kind, value, trace)
        sys.stderr.flush()
        world.Abort(1)

    sys.excepthook = abort


class Groups:
    """The controller's side: hands MD runs to idle groups and collects their results."""

    def __init__(self, world, layout: Layout):
        from lotf.oracle.mpi_pool import OracleGroups

        self.world, self.md_ranks = world, layout.md_ranks
        self._first = 1 + layout.oracle_size  # the first MD rank
        self.count = (world.Get_size() - self._first) // self.md_ranks
        self.oracle = OracleGroups(world, layout) if layout.oracle_groups else None
        self._running: dict[int, int] = {}  # group -> serial of the run it is doing
        self._serial = 0
        self._sent: dict[int, str] = {}  # world rank -> digest of the potential it holds
        self._packed: tuple[Potential, str, dict[str, bytes]] | None = None

    def members(self, group: int) -> range:
        """The world ranks of a group; the first sends its results."""
        return range(self._first + group * self.md_ranks,
                     self._first + (group + 1) * self.md_ranks)

    def run(self, potential: "Potential", jobs: Sequence[MDJob],
            meanwhile: Callable[[], object] | None = None) -> list["MDResult"]:
        """Run `jobs` with `potential`, up to one per group at a time; their results in order.
        `meanwhile` is called while the controller waits for them."""
        digest, files = self._pack(potential)
        results: list = [None] * len(jobs)
        waiting = list(enumerate(jobs))
        index_of: dict[int, int] = {}  # serial -> index in jobs
        while waiting or index_of:
            for group in range(self.count):
                if waiting and group not in self._running:
                    index, job = waiting.pop(0)
                    self._serial += 1
                    index_of[self._serial] = index
                    self._start(group, self._serial, digest, files, job)
            source, serial, outcome = self._receive(meanwhile)
            group = self._group_of(source)
            if self._running.get(group) != serial:
                continue  # a second rank's word on a run already answered
            del self._running[group]
            if outcome == INTERRUPTED:  # the job is being stopped: so is the campaign
                raise KeyboardInterrupt
            if isinstance(outcome, str):
                from lotf.md.ranks import RanksFailed

                raise RanksFailed(f"MD on the MPI ranks {self.members(group).start}-"
                                  f"{self.members(group).stop - 1} failed: {outcome}")
            results[index_of.pop(serial)] = outcome
        return results

    def _group_of(self, rank: int) -> int:
        return (rank - self._first) // self.md_ranks

    def _start(self, group: int, serial: int, digest: str, files: dict[str, bytes],
               job: MDJob) -> None:
        self._running[group] = serial
        for member in self.members(group):
            known = self._sent.get(member) == digest
            self.world.send((serial, digest, None if known else files, job), dest=member,
                            tag=TASK)
            self._sent[member] = digest

    def _receive(self, meanwhile: Callable[[], object] | None = None
                 ) -> tuple[int, int, object]:
        """The next result from any group: (world rank, serial, MDResult or error text). Polls,
        so SIGINT and SIGTERM reach the controller while it waits, calling `meanwhile`."""
        from mpi4py import MPI

        status = MPI.Status()
        while not self.world.Iprobe(source=MPI.ANY_SOURCE, tag=RESULT, status=status):
            if meanwhile is not None:
                meanwhile()
            time.sleep(POLL_SECONDS)
        source = status.Get_source()
        serial, outcome = self.world.recv(source=source, tag=RESULT)
        return source, serial, outcome

    def _pack(self, potential: "Potential") -> tuple[str, dict[str, bytes]]:
        """The potential's saved files and their digest (the last potential's kept)."""
        if self._packed is None or self._packed[0] is not potential:
            with tempfile.TemporaryDirectory(prefix="lotf-groups-") as scratch:
                potential.save(Path(scratch))
                files = {path.name: path.read_bytes() for path in sorted(Path(scratch).iterdir())}
            digest = hashlib.sha256(b"".join(name.encode() + content
                                             for name, content in files.items())).hexdigest()
            self._packed = (potential, digest, files)
        return self._packed[1], self._packed[2]

    def finish(self, code: int) -> None:
        """End the job's other ranks: once every group is idle, told to stop. Groups still in
        MD (the campaign was interrupted) get STOP_GRACE seconds to answer, as they do when the
        signal reached them too; else the job is aborted with `code` (nothing a group holds
        is committed, so nothing is lost)."""
        global _active
        _active = None
        deadline = time.monotonic() + STOP_GRACE
        while self._unstoppable() and time.monotonic() < deadline:
            with contextlib.suppress(KeyboardInterrupt):  # a second signal: keep waiting
                if self._answered() or (self.oracle is not None and self.oracle.drained()):
                    continue
                time.sleep(POLL_SECONDS)
        if self._unstoppable():
            sys.stderr.flush()
            self.world.Abort(code or EXIT_INTERRUPTED)
        for rank in range(1, self.world.Get_size()):
            self.world.send(None, dest=rank, tag=STOP)

    def _unstoppable(self) -> bool:
        """Whether a group is still busy in a way STOP cannot end: MD, or an oracle call on
        several ranks (one on a rank alone runs in a process the rank kills when told)."""
        return bool(self._running) or (self.oracle is not None and self.oracle.unstoppable())

    def _answered(self) -> bool:
        """Take one waiting answer, if any, and free its group; whether there was one."""
        from mpi4py import MPI

        status = MPI.Status()
        if not self.world.Iprobe(source=MPI.ANY_SOURCE, tag=RESULT, status=status):
            return False
        serial, _ = self.world.recv(source=status.Get_source(), tag=RESULT)
        group = self._group_of(status.Get_source())
        if self._running.get(group) == serial:
            del self._running[group]
        return True


def _serve(world, group) -> None:
    """A group rank's loop: run each MD job sent, until STOP. SIGINT and SIGTERM (which
    mpiexec and srun pass to every rank) are only recorded, whenever they come: a run then
    stops at the step its ranks agree on, and the group answers "interrupted" (a rank that
    stopped alone, say while LAMMPS was being set up, would leave the others waiting inside
    LAMMPS); only the controller decides to stop the job."""
    from mpi4py import MPI

    from lotf.md.session import run_session

    held: dict[str, tuple[Potential, tempfile.TemporaryDirectory]] = {}
    status = MPI.Status()
    with interrupts.deferred():
        while True:
            while not world.Iprobe(source=0, tag=MPI.ANY_TAG, status=status):
                time.sleep(POLL_SECONDS)
            message = world.recv(source=0, tag=status.Get_tag())
            if status.Get_tag() == STOP:
                interrupts.take()  # the controller has acted on it
                return
            serial, digest, files, job = message
            try:
                if digest not in held:
                    held = {digest: _unpack(files)}  # the potential before is done with
                result = run_session(held[digest][0], job.atoms, job.settings, job.trajectory,
                                     job.log_file, comm=group)
                outcome = result if group.Get_rank() == 0 else None
            except KeyboardInterrupt:
                outcome = INTERRUPTED if group.Get_rank() == 0 else None
            except Exception as error:
                outcome = f"{type(error).__name__}: {error}"
            if outcome is not None:
                world.send((serial, outcome), dest=0, tag=RESULT)


def _unpack(files: dict[str, bytes] | None) -> tuple["Potential", tempfile.TemporaryDirectory]:
    """A potential from its saved files, with the folder it was loaded from."""
    if files is None:
        raise RuntimeError("a group rank was sent a potential it does not hold")
    folder = tempfile.TemporaryDirectory(prefix="lotf-group-")
    for name, content in files.items():
        (Path(folder.name) / name).write_bytes(content)
    from lotf.potential import load

    return load(folder.name), folder
