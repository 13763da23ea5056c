"""MSD of a long, large trajectory: wall time and peak memory, in one run; prints JSON.

A 1000-atom cell (300 mobile Li hopping on a lattice, 700 host atoms drifting with the cell)
over 50 000 frames, generated one frame at a time and streamed through unwrapping, drift
removal and the origin-averaged FFT MSD, as the diffusion stage reads a trajectory.
Targets (issue 7): under 60 s and 4 GB. Reading extxyz files is not included (ASE's reader
costs about 10 ms per 1000-atom frame). Usage: python benchmarks/msd_long.py [--quick]
"""

import json
import resource
import sys
import time

import numpy as np

from lotf.analysis.diffusion import tracer_diffusivity
from lotf.analysis.msd import displacements, msd

BOX, HOP, DT_PS = 25.0, 2.5, 0.1


def frames(count: int, mobile: int = 300, hosts: int = 700, seed: int = 0):
    """Wrapped (positions, cell) pairs of a lattice walk, one frame at a time."""
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, BOX, (mobile + hosts, 3))
    cell = np.eye(3) * BOX
    for _ in range(count):
        yield positions % BOX, cell
        hops = rng.random(mobile) < 0.02
        positions[:mobile][hops, rng.integers(0, 3, hops.sum())] += HOP * rng.choice([-1, 1], hops.sum())
        positions += 0.001  # the whole cell drifts


def main(count: int) -> dict:
    mobile = np.arange(1000) < 300
    start = time.perf_counter()
    result = msd(displacements(frames(count), mobile, framework=~mobile), DT_PS)
    estimate = tracer_diffusivity(result, "total", hop_length=HOP)
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    truth = 0.02 * HOP**2 / 6 / DT_PS * 1e-4
    return {"atoms": 1000, "frames": count, "seconds": round(seconds, 1),
            "peak_rss_gb": round(peak_gb, 2), "seconds_per_1000_frames": round(1e3 * seconds / count, 3),
            "D_cm2_per_s": estimate.value, "D_sigma": estimate.sigma, "D_true": truth}


if __name__ == "__main__":
    print(json.dumps(main(5000 if "--quick" in sys.argv else 50_000), indent=2))
