"""A pool of oracle worker processes with hard per-call timeouts; outcomes yielded as they finish.

concurrent.futures cannot stop a running call, so the pool owns its workers: a call past its
timeout, or a worker that dies, is recorded as a failed call and the worker is replaced.
Workers start from a fork server (safe beside the parent's threads) and run many calls each,
so a cheap oracle does not pay a process start per call.
"""

import contextlib
import math
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lotf.oracle.call import CallOutcome, CallTask, worker_main

if TYPE_CHECKING:
    pass


class Pool(Protocol):
    """What labelling needs of an executor: submit calls, get outcomes as they finish."""

    def submit(self, task: CallTask) -> None: ...

    def completed(self, timeout: float | None = None) -> Iterator[tuple[CallTask, CallOutcome]]:
        ...

    def shutdown(self) -> None: ...

    def __enter__(self) -> "Pool": ...

    def __exit__(self, *exc) -> None: ...

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["numpy", "ase", "lotf.oracle.call"])


@dataclass
class _Worker:
    process: multiprocessing.Process
    connection: object
    task: CallTask | None = None
    deadline: float = float("inf")


class OraclePool:
    """Runs submitted calls `workers` at a time; `completed()` yields (task, outcome) pairs."""

    def __init__(self, workers: int, timeout: float, threads: int = 1):
        self.size, self.timeout, self.threads = workers, timeout, threads
        self._pending: deque[CallTask] = deque()
        self._workers: list[_Worker] = []

    def submit(self, task: CallTask) -> None:
        """Queue a call; it starts when a worker is free (also while `completed()` iterates)."""
        self._pending.append(task)

    def __enter__(self) -> "OraclePool":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def completed(self, timeout: float | None = None) -> Iterator[tuple[CallTask, CallOutcome]]:
        """Yield every submitted call's outcome as it finishes; idle workers stay for more.
        With `timeout`, only those that finish within that many seconds (the rest go on)."""
        end = math.inf if timeout is None else time.monotonic() + timeout
        while self._pending or self._busy():
            self._assign()
            yield from self._collect(end)
            if time.monotonic() >= end:
                return

    def shutdown(self) -> None:
        """Stop idle workers and kill busy ones; unfinished calls stay unlabelled for a resume."""
        for worker in self._workers:
            if worker.task is None:
                with contextlib.suppress(OSError):
                    worker.connection.send(None)
                worker.process.join(2)
            _kill(worker.process)
            worker.connection.close()
        self._workers.clear()
        self._pending.clear()

    def _busy(self) -> list[_Worker]:
        return [w for w in self._workers if w.task is not None]

    def _assign(self) -> None:
        while self._pending:
            idle = next((w for w in self._workers if w.task is None), None)
            if idle is None and len(self._workers) < self.size:
                idle = self._start_worker()
            if idle is None:
                return
            idle.task = self._pending.popleft()
            idle.deadline = time.monotonic() + self.timeout
            idle.connection.send(idle.task)

    def _start_worker(self) -> _Worker:
        ours, theirs = _CONTEXT.Pipe(duplex=True)
        process = _CONTEXT.Process(target=worker_main, args=(theirs, self.threads), daemon=True)
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        self._workers.append(worker)
        return worker

    def _collect(self, end: float) -> Iterator[tuple[CallTask, CallOutcome]]:
        busy = self._busy()
        handles = [w.connection for w in busy] + [w.process.sentinel for w in busy]
        until = min(end, min(w.deadline for w in busy))
        ready = set(wait(handles, timeout=max(0.0, until - time.monotonic())))
        now = time.monotonic()
        for worker in busy:
            if worker.connection in ready or worker.process.sentinel in ready:
                outcome = self._receive(worker)
            elif now >= worker.deadline:
                self._retire(worker)
                outcome = CallOutcome(error=f"timed out after {self.timeout:g} s",
                                      wall_time=self.timeout)
            else:
                continue
            task, worker.task = worker.task, None
            yield task, outcome

    def _receive(self, worker: _Worker) -> CallOutcome:
        """The outcome the worker sent, or a failure saying how it died (and it is replaced)."""
        try:
            return worker.connection.recv()
        except (EOFError, OSError):
            worker.process.join(5)
            code = worker.process.exitcode
            self._retire(worker)
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            return CallOutcome(error=f"oracle process died without a result ({how})")

    def _retire(self, worker: _Worker) -> None:
        _kill(worker.process)
        worker.connection.close()
        self._workers.remove(worker)


def _kill(process: multiprocessing.Process) -> None:
    """Kill a worker with every process below it: its process group and its descendants, which
    an MPI launcher may have put in groups of their own (Open MPI's ranks)."""
    if process.is_alive() and process.pid is not None:
        kill_tree(process.pid)
        process.kill()  # in case it was killed before it made its own group
    process.join(5)


def kill_tree(pid: int) -> None:
    """SIGKILL `pid`'s descendants, its process group and itself."""
    for _ in range(2):  # the second pass catches what forked during the first
        for below in _descendants(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(below, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from the parent ids in /proc (empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found
