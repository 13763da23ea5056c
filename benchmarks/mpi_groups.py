"""What running MD on the rank groups of lotf's own MPI job saves.

(1) Two walkers' segments (N steps each, a 108-atom EMT-fitted Cu cell): one after the other in
one process, against at once on two groups of one rank (`mpiexec -n 3`, lotf.md.groups).
(2) K short segments on 2 ranks: an `mpiexec -n 2` started per segment (md.ranks from a
single-process campaign), against one group of 2 ranks that stays up (`mpiexec -n 3`).
Prints JSON: wall seconds of each and the ratios. Run alone: it needs both cores.
Usage: python benchmarks/mpi_groups.py [N] [K]
"""

import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from lotf.md import groups
from lotf.md.groups import MDJob
from lotf.md.ranks import mpiexec
from lotf.md.run import MDSettings, run_md_many
from lotf.potential import FitSchedule, create, load


def potential():
    """A level-8 MTP fitted on rattled EMT copper (enough to run clean at 600 K)."""
    frames = []
    rng = np.random.default_rng(0)
    for _ in range(20):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.calc = EMT()
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        frames.append(atoms)
    fitted = create(["Cu"], level=8, cutoff=5.0, min_dist=2.0, seed=1, schedule=FitSchedule(steps=0))
    fitted.fit(frames, {"energy": 1.0, "forces": 0.1, "stress": 0.0}, seed=1)
    fitted.update_active_set(frames, "neighborhood")
    return fitted


def jobs(count: int, steps: int, ranks: int) -> list[MDJob]:
    start = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    return [MDJob(start, MDSettings("nvt", (600.0, 600.0), steps, seed=1 + k,
                                    break_threshold=1e9, ranks=ranks)) for k in range(count)]


def child(folder: Path) -> None:
    """Under mpiexec -n 3: the controller times the jobs pickled in `folder` on the groups."""
    md_ranks, work = pickle.loads((folder / "input.pickle").read_bytes())
    md_groups = groups.join(lambda: md_ranks)
    fitted = load(folder / "potential")
    start = time.perf_counter()
    if md_ranks == 1:
        run_md_many(fitted, work)
    else:
        for job in work:  # one after the other, as a campaign's segments
            run_md_many(fitted, [job])
    (folder / "seconds").write_text(str(time.perf_counter() - start))
    md_groups.finish(0)


def on_groups(fitted, md_ranks: int, work: list[MDJob]) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        fitted.save(folder / "potential")
        (folder / "input.pickle").write_bytes(pickle.dumps((md_ranks, work)))
        subprocess.run([mpiexec(), "-n", "3", sys.executable, __file__, "--child", scratch],
                       check=True)
        return float((folder / "seconds").read_text())


def main(steps: int, segments: int) -> dict:
    fitted = potential()
    start = time.perf_counter()
    run_md_many(fitted, jobs(2, steps, 1))
    in_turn = time.perf_counter() - start
    at_once = on_groups(fitted, 1, jobs(2, steps, 1))
    short = jobs(segments, 100, 2)
    start = time.perf_counter()
    for job in short:
        run_md_many(fitted, [job])
    spawned = time.perf_counter() - start
    kept = on_groups(fitted, 2, short)
    return {"walkers": {"steps_each": steps, "in_turn_s": round(in_turn, 2),
                        "at_once_on_2_groups_s": round(at_once, 2),
                        "speedup": round(in_turn / at_once, 2)},
            "short_segments_on_2_ranks": {"segments": segments, "steps_each": 100,
                                          "mpiexec_per_segment_s": round(spawned, 2),
                                          "group_kept_s": round(kept, 2),
                                          "speedup": round(spawned / kept, 2)}}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]))
    else:
        arguments = [int(a) for a in sys.argv[1:]]
        print(json.dumps(main(*(arguments or [20000, 20])), indent=2))
