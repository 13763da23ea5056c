"""A pool of oracle processes with hard per-call timeouts; outcomes are yielded as each finishes.

concurrent.futures cannot stop a running call, so each call is its own process, started from a
fork server (safe beside the threads of the parent's progress display) and killed on timeout.
"""

import contextlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait

from lotf.oracle.call import CallOutcome, CallTask, child_main

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["numpy", "ase", "lotf.oracle.call"])


@dataclass
class _Running:
    task: CallTask
    process: multiprocessing.Process
    connection: object
    deadline: float


class OraclePool:
    """Runs submitted calls `workers` at a time; `completed()` yields (task, outcome) pairs."""

    def __init__(self, workers: int, timeout: float):
        self.workers = workers
        self.timeout = timeout
        self._pending: deque[CallTask] = deque()
        self._running: list[_Running] = []

    def submit(self, task: CallTask) -> None:
        """Queue a call; it starts when a worker is free (also while `completed()` iterates)."""
        self._pending.append(task)

    def completed(self) -> Iterator[tuple[CallTask, CallOutcome]]:
        """Yield every submitted call's outcome as it finishes; kill what runs if interrupted."""
        try:
            while self._pending or self._running:
                self._start_free_workers()
                yield from self._collect()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Kill calls still running; their tasks are left unlabelled, to be redone on resume."""
        for running in self._running:
            _kill(running.process)
        self._running.clear()
        self._pending.clear()

    def _start_free_workers(self) -> None:
        while self._pending and len(self._running) < self.workers:
            task = self._pending.popleft()
            receiver, sender = _CONTEXT.Pipe(duplex=False)
            process = _CONTEXT.Process(target=child_main, args=(task, sender), daemon=True)
            process.start()
            sender.close()
            self._running.append(
                _Running(task, process, receiver, time.monotonic() + self.timeout)
            )

    def _collect(self) -> Iterator[tuple[CallTask, CallOutcome]]:
        now = time.monotonic()
        next_deadline = min(r.deadline for r in self._running)
        handles = [r.connection for r in self._running] + [r.process.sentinel for r in self._running]
        ready = set(wait(handles, timeout=max(0.0, next_deadline - now)))
        now = time.monotonic()
        for running in list(self._running):
            outcome = None
            if running.connection in ready or running.process.sentinel in ready:
                outcome = _receive(running)
            elif now >= running.deadline:
                _kill(running.process)
                outcome = CallOutcome(error=f"timed out after {self.timeout:g} s", wall_time=self.timeout)
            if outcome is not None:
                running.connection.close()
                self._running.remove(running)
                yield running.task, outcome


def _receive(running: _Running) -> CallOutcome:
    """The outcome the call sent, or a failure saying how its process died."""
    try:
        outcome = running.connection.recv()
    except (EOFError, OSError):
        running.process.join(5)
        code = running.process.exitcode
        reason = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return CallOutcome(error=f"oracle process died without a result ({reason})")
    running.process.join()
    return outcome


def _kill(process: multiprocessing.Process) -> None:
    """Kill the call's whole process group (it may have started MPI ranks or a shell)."""
    if process.pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.kill()  # in case it was killed before it made its own group
    process.join(5)
