"""A protocol as a schedule: steps of MD (ensemble, temperature ramp, pressure, duration), cut
into chunks that each run as one MD call. A chunk is the unit of resumption: a break reruns
only the chunk it happened in, with the retrained potential, from the chunk's start state."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One part of a schedule: a linear temperature ramp (K) over `duration_fs`."""

    name: str
    ensemble: str
    start_k: float
    end_k: float
    duration_fs: float
    pressure_bar: float | None
    barostat: str | None = None  # npt steps: a lotf.md.barostats name; None: md.barostat


@dataclass(frozen=True)
class Chunk:
    """A piece of a step: its index in the schedule, temperatures, start time and length."""

    index: int
    step: Step
    start_k: float
    end_k: float
    start_fs: float
    duration_fs: float


def chunks(steps: list[Step], length_fs: float, timestep_fs: float) -> list[Chunk]:
    """Each step cut into chunks of at most `length_fs` (whole timesteps), ramps interpolated."""
    pieces: list[Chunk] = []
    elapsed = 0.0
    for step in steps:
        total = round(step.duration_fs / timestep_fs)
        per_chunk = max(1, round(length_fs / timestep_fs))
        for first in range(0, total, per_chunk):
            last = min(total, first + per_chunk)
            temperature = [step.start_k + (step.end_k - step.start_k) * k / total
                           for k in (first, last)]
            pieces.append(Chunk(len(pieces), step, *temperature, elapsed,
                                (last - first) * timestep_fs))
            elapsed += (last - first) * timestep_fs
    return pieces
