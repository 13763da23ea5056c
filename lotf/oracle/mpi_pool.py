"""Oracle calls on groups of the campaign's own MPI ranks (`oracle.executor: mpi`), so one
allocation (`srun lotf run`) runs the controller, the walkers' MD and the DFT at once.

The controller sends each call to every rank of an idle group. A group of one rank runs the
call in a process of its own (lotf.oracle.remote), which it kills past `oracle.timeout` or when
the controller stops the job, as the local pool does. A group of several ranks runs the
code's Python on them, on the group's communicator (GPAW); such a call cannot be killed
without the job, so a call past its timeout fails and its group is not used again, and a
crash of the code ends the job (the ledger keeps every finished label; a resume asks again).
"""

import contextlib
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from lotf import interrupts
from lotf.oracle.call import CallOutcome, CallTask, label_with

ORACLE_TASK, ORACLE_RESULT, CANCEL = 4, 5, 6  # message tags (lotf.md.groups has 1-3)
STOP = 3  # lotf.md.groups.STOP: the job ends
POLL_SECONDS = 0.005
LATE = 30.0  # seconds past its timeout before a one-rank group's silence retires it
STOPPED = "stopped"


@dataclass
class _Group:
    members: range
    serial: int | None = None  # the call it is running
    deadline: float = float("inf")
    retired: bool = False


class OracleGroups:
    """The controller's view of the job's oracle groups: which are busy with which call."""

    def __init__(self, world, layout):
        self.world, self.ranks = world, layout.oracle_ranks
        self.groups = [_Group(range(1 + k * self.ranks, 1 + (k + 1) * self.ranks))
                       for k in range(layout.oracle_groups)]
        self._serial = 0

    def idle(self) -> list[_Group]:
        return [g for g in self.groups if g.serial is None and not g.retired]

    def start(self, group: _Group, task: CallTask, timeout: float, threads: int) -> int:
        """Send `task` to every rank of `group`; the serial its answer will carry."""
        self._serial += 1
        group.serial = self._serial
        group.deadline = time.monotonic() + timeout + (LATE if self.ranks == 1 else 0.0)
        for member in group.members:
            self.world.send((self._serial, task, timeout, threads), dest=member,
                            tag=ORACLE_TASK)
        return self._serial

    def answer(self) -> tuple[int, CallOutcome] | None:
        """The next call's answer, if one is waiting: (serial, outcome); its group is idle again."""
        from mpi4py import MPI

        status = MPI.Status()
        if not self.world.Iprobe(source=MPI.ANY_SOURCE, tag=ORACLE_RESULT, status=status):
            return None
        serial, outcome = self.world.recv(source=status.Get_source(), tag=ORACLE_RESULT)
        for group in self.groups:
            if group.serial == serial:
                group.serial = None
        return serial, outcome

    def overdue(self) -> list[tuple[int, _Group]]:
        """Busy groups past their deadline, retired: (serial, group) for each."""
        now, found = time.monotonic(), []
        for group in self.groups:
            if group.serial is not None and not group.retired and now > group.deadline:
                group.retired = True
                found.append((group.serial, group))
        return found

    def cancel(self, serials: set[int]) -> None:
        """Ask the groups running these calls to drop them (a one-rank group kills its call's
        process; a call on several ranks runs on, its answer is ignored)."""
        for group in self.groups:
            if group.serial in serials and not group.retired:
                self.world.send(None, dest=group.members[0], tag=CANCEL)
                if self.ranks == 1:  # it drops the call and sends nothing
                    group.serial = None

    def drained(self) -> bool:
        """Take one waiting answer, if any (the job is ending); whether there was one."""
        return self.answer() is not None

    def unstoppable(self) -> bool:
        """Whether a group is inside a call on several ranks, which STOP cannot end."""
        return self.ranks > 1 and any(g.serial is not None for g in self.groups)


class MpiPool:
    """Submit calls to the job's oracle groups; `completed()` yields (task, outcome) pairs."""

    def __init__(self, groups: "OracleGroups", timeout: float, threads: int = 1):
        self.groups, self.timeout, self.threads = groups, timeout, threads
        self._pending: deque[CallTask] = deque()
        self._running: dict[int, CallTask] = {}

    def __enter__(self) -> "MpiPool":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def submit(self, task: CallTask) -> None:
        """Queue a call; it starts when a group is free (also while `completed()` iterates)."""
        self._pending.append(task)

    def completed(self, timeout: float | None = None) -> Iterator[tuple[CallTask, CallOutcome]]:
        """Yield every submitted call's outcome as it finishes; with `timeout`, only those that
        finish within that many seconds (the rest go on)."""
        end = float("inf") if timeout is None else time.monotonic() + timeout
        while self._pending or self._running:
            self._assign()
            if not self._running:
                raise RuntimeError("every oracle group of this MPI job was retired after a "
                                   "call past its timeout; run again to resume with them")
            answer = self.groups.answer()
            if answer is not None and answer[0] in self._running:
                yield self._running.pop(answer[0]), answer[1]
            for serial, group in self.groups.overdue():
                if serial in self._running:
                    yield self._running.pop(serial), CallOutcome(
                        error=f"timed out after {self.timeout:g} s (its MPI ranks "
                              f"{group.members.start}-{group.members.stop - 1} are not used "
                              "again in this job)", wall_time=self.timeout)
            if time.monotonic() >= end:
                return
            if answer is None:
                time.sleep(POLL_SECONDS)

    def shutdown(self) -> None:
        """Drop unfinished calls (they stay unlabelled for a resume) and cancel running ones."""
        self.groups.cancel(set(self._running))
        self._running.clear()
        self._pending.clear()

    def _assign(self) -> None:
        for group in self.groups.idle():
            if not self._pending:
                return
            task = self._pending.popleft()
            self._running[self.groups.start(group, task, self.timeout, self.threads)] = task


def serve(world, group) -> None:
    """An oracle rank's loop: run each call sent, until STOP. Signals are only recorded: the
    controller decides when the job stops, and tells every rank."""
    from mpi4py import MPI

    status = MPI.Status()
    with interrupts.deferred():
        while True:
            while not world.Iprobe(source=0, tag=MPI.ANY_TAG, status=status):
                time.sleep(POLL_SECONDS)
            message = world.recv(source=0, tag=status.Get_tag())
            if status.Get_tag() == STOP:
                interrupts.take()
                return
            if status.Get_tag() != ORACLE_TASK:
                continue  # a cancel for a call already answered
            serial, task, timeout, threads = message
            if group.Get_size() == 1:
                outcome = _in_process(world, task, timeout, threads)
            else:
                outcome = _on_group(task, group)
            if outcome == STOPPED:
                interrupts.take()
                return
            if outcome is not None and group.Get_rank() == 0:
                world.send((serial, outcome), dest=0, tag=ORACLE_RESULT)


def _in_process(world, task: CallTask, timeout: float, threads: int
                ) -> CallOutcome | str | None:
    """The call in a process of its own; None if the controller cancelled it, STOPPED if it
    ended the job (the call's process is killed either way)."""
    from mpi4py import MPI

    from lotf.oracle.pool import kill_tree
    from lotf.oracle.remote import outcome_of, start_call, write_task

    write_task(task)
    start = time.monotonic()
    child = start_call(str(task.workdir), threads)
    status = MPI.Status()
    try:
        while child.poll() is None:
            if world.Iprobe(source=0, tag=MPI.ANY_TAG, status=status) and \
                    status.Get_tag() in (STOP, CANCEL):
                world.recv(source=0, tag=status.Get_tag())
                return STOPPED if status.Get_tag() == STOP else None
            if time.monotonic() - start > timeout:
                return CallOutcome(error=f"timed out after {timeout:g} s", wall_time=timeout)
            time.sleep(0.05)
    finally:
        if child.poll() is None:
            kill_tree(child.pid)
            child.wait()
    return outcome_of(str(task.workdir), child.returncode, time.monotonic() - start)


def _on_group(task: CallTask, group) -> CallOutcome:
    """The call's Python on every rank of `group` (the code splits its work over them); the
    output of every rank goes to the call's oracle.out."""
    from lotf.oracle.calculators import make_calculator, resolve

    code = resolve(task.calculator)
    code.enter_group()
    task.workdir.mkdir(parents=True, exist_ok=True)
    here, start = os.getcwd(), time.perf_counter()
    with _output_to(task.workdir / "oracle.out"):
        os.chdir(task.workdir)
        try:
            calc = make_calculator(task.calculator, task.params, comm=group)
            outcome = label_with(calc, task, code)
        except Exception as error:  # a failure of the calculator is data, as in any call
            traceback.print_exc()
            outcome = CallOutcome(error=f"{type(error).__name__}: {error}".strip())
        finally:
            os.chdir(here)
    outcome.wall_time = time.perf_counter() - start
    return outcome


@contextlib.contextmanager
def _output_to(path):
    """This rank's stdout and stderr (Python's and C's) appended to `path` for the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
