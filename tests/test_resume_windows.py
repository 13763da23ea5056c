"""Kill a campaign after every durable file write of a break cycle (an even spread of 30 where
a cycle has more) and at its named checkpoints, resume it, and compare the run directory with
the uninterrupted cycle bit for bit.

Two cycles. In learning, the second break cycle, so that a committed restart point exists when
it starts: MD on generation 1 from that point until a break, the selection, its labels, and
the training and commit of generation 2. In a melt-quench, its first chunk: MD that breaks on
the melt, the selection, labels, a new generation, the chunk again, and its commit. Every file
write ends in `checkpoint("write")` (lotf.faults), so `LOTF_KILL_AT=write:k` stops the campaign
in the k-th window between two writes; the resume then runs until the cycle's end and stops
there too, so both directories hold the same moment of the campaign.
"""

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ase.db
import pytest

from lotf.learning.state import LearningState
from lotf.ledger import Ledger

from conftest import emt_campaign, run_lotf
from test_learn import LEARN

LEARNING = {**LEARN, "active_learning": {"max_new": 3, "converge_after": "2 ps"},
            "md": {"dump_every": 25, "phases": [LEARN["md"]["phases"][0]]},
            "stages": ["bootstrap", "learn"]}
GLASS = {**LEARNING, "melt_quench": {"melt_temperature": 2600, "melt": "0.5 ps",
                                     "temperature": 1000, "cool": "0.5 ps", "equilibrate": "0 ps",
                                     "production": "0.5 ps", "pressure": "0 bar",
                                     "chunk": "0.5 ps"},
         "stages": ["bootstrap", "learn", "melt_quench"]}


def _generation(workdir: Path) -> int | None:
    learn = json.loads((workdir / "state.json").read_text()).get("learn", {})
    return LearningState.model_validate(learn).latest()


def _chunks(workdir: Path) -> int:
    state = json.loads((workdir / "state.json").read_text())
    return state.get("protocols", {}).get("melt-quench", {}).get("0", 0)


# name: (campaign, kill that ends the set-up, kill that ends the cycle in a resume, whether a
# directory is at the cycle's end already, named checkpoints to kill at besides the writes)
CYCLES = {
    "learning": (LEARNING, "generation:2", "generation:1", lambda w: _generation(w) == 2,
                 ["segment:1", "select:1", "label:1", "label:2", "train:1"]),
    "melt-quench": (GLASS, "stage:2", "chunk-done:1", lambda w: _chunks(w) == 1,
                    ["chunk:1", "select:1", "label:1", "train:1", "chunk:2"]),
}
VOLATILE = {"updated", "fit_seconds", "started", "seconds"}  # wall-clock facts
# At most this many write windows are killed: a cycle's write count depends on the learning path,
# which depends on the BLAS kernel (25 windows under Haswell, 87+ under SkylakeX), and CI's time
# must not. Beyond it an even spread is taken, the first and the last window always among them.
MAX_WRITE_KILLS = 30


def _without(value, keys: set):
    """`value` with the wall-clock entries removed at every depth."""
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def _snapshot(workdir: Path) -> dict:
    """Everything a resume goes on from: state, ledger rows and labels, potentials, restarts,
    selections and trajectories, byte for byte."""
    state = _without(json.loads((workdir / "state.json").read_text()), VOLATILE)
    rows = {row.key: (row.status, row.attempts, row.source, row.get("energy"),
                      None if row.get("forces") is None else row.forces.tobytes())
            for row in ase.db.connect(str(workdir / "ledger.db")).select()}
    files = {}
    for folder in ("potentials", "structures", "trajectories", "protocols"):
        for path in sorted((workdir / folder).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files[str(path.relative_to(workdir))] = path.read_bytes()
    calls = Ledger(workdir / "ledger.db").call_counts()
    return {"state": state, "rows": rows, "calls": calls, "files": files}


@pytest.fixture(scope="module", params=list(CYCLES))
def cycle(request, tmp_path_factory):
    """The directory at the cycle's start, the uninterrupted cycle, and what it reached."""
    settings, setup, end, at_end, named = CYCLES[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    config = emt_campaign(tmp, str(tmp / "calls.txt"), count=4, workers=1, **settings)
    start = tmp / "start"
    done = run_lotf(config, start, 300, LOTF_KILL_AT=setup)
    assert done.returncode == -9 and not at_end(start), done.stderr[-2000:]
    reference = tmp / "reference"
    shutil.copytree(start, reference)
    trace = tmp / "trace.txt"
    done = run_lotf(config, reference, 300, LOTF_KILL_AT=end, LOTF_TRACE=str(trace))
    assert done.returncode == -9 and at_end(reference), done.stderr[-2000:]
    reached = trace.read_text().split("\n")
    assert "select 1" in reached, "the cycle has no break: the test needs one"
    writes = sum(line.startswith("write ") for line in reached)
    steps = sum(line.startswith("md ") for line in reached)
    kills = [f"write:{k}" for k in _spread(writes, MAX_WRITE_KILLS)] + named + [f"md:{steps // 2}"]
    return config, start, end, at_end, _snapshot(reference), kills, tmp


def _spread(count: int, most: int) -> list[int]:
    """1..count, or `most` of them evenly spread from 1 to count when there are more."""
    if count <= most:
        return list(range(1, count + 1))
    return sorted({1 + round(k * (count - 1) / (most - 1)) for k in range(most)})


def _killed_then_resumed(cycle, kill_at: str) -> tuple[str, dict | None, str]:
    config, start, end, at_end, *_, tmp = cycle
    workdir = tmp / f"killed-{kill_at.replace(':', '-')}"
    shutil.copytree(start, workdir)
    done = run_lotf(config, workdir, 300, LOTF_KILL_AT=kill_at)
    if done.returncode != -9:
        return kill_at, None, f"not killed (exit {done.returncode}): {done.stderr[-1500:]}"
    if not at_end(workdir):  # killed before the cycle's last commit: resume up to it
        done = run_lotf(config, workdir, 300, LOTF_KILL_AT=end)
        if done.returncode != -9:
            return kill_at, None, f"resume did not reach {end}: {done.stderr[-1500:]}"
    return kill_at, _snapshot(workdir), ""


def test_a_kill_after_any_write_of_a_break_cycle_resumes_to_the_same_bits(cycle):
    *_, reference, kills, _ = cycle
    with ThreadPoolExecutor(2) as pool:  # two campaigns at a time: one a core
        outcomes = list(pool.map(lambda kill: _killed_then_resumed(cycle, kill), kills))
    problems = []
    for kill_at, mine, failure in outcomes:
        if failure:
            problems.append(f"{kill_at}: {failure}")
            continue
        for part in ("state", "rows", "calls"):
            if mine[part] != reference[part]:
                problems.append(f"{kill_at}: {part} differs")
        if mine["files"].keys() != reference["files"].keys():
            problems.append(f"{kill_at}: files differ: "
                            f"{sorted(mine['files'].keys() ^ reference['files'].keys())}")
        problems += [f"{kill_at}: {name} differs" for name in reference["files"]
                     if name in mine["files"] and mine["files"][name] != reference["files"][name]]
    assert len(kills) >= 14 and not problems, "\n".join(problems)
