"""Kill, signal and damage EMT campaigns through every stage, resume them, and count what went
wrong against one uninterrupted run. Prints JSON.

- kills: each run is SIGKILLed at random moments (1-3 times), then run to the end;
- signals: SIGTERM or SIGINT at a random moment; the exit code, how long the campaign took to
  stop, then the resume;
- damage: a finished run's state.json truncated or lost with its backup, ledger pages
  overwritten, the final potential truncated (with validate reopened), a melt-quench chunk
  state truncated; then `lotf run` again.

Counted per run: finished (exit 0 at the end), duplicate ledger rows, repeated oracle calls
(calls made beyond the ledger's attempts), and divergence from the reference (the labelled
structures, the final potential's bytes, results.json's numbers).

Usage: python benchmarks/resume_audit.py [--kills N] [--signals N] [--seed S]
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import ase.db
import numpy as np
import yaml
from ase.build import bulk
from ase.io import write

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
from lotf.ledger import Ledger, content_key  # noqa: E402

from oracles import count_calls  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1"}
VOLATILE = ("seconds", "fit_seconds", "updated", "started", "wall_time")


def campaign(folder: Path) -> Path:
    """An EMT Cu campaign through learn, validate, melt-quench, structure and diffusion."""
    start = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    start.positions += np.random.default_rng(3).normal(0, 0.35, start.positions.shape)  # a liquid
    write(folder / "cu.extxyz", start)
    config = {
        "name": "audit", "seed": 3,
        "system": {"species": ["Cu"], "structures": [{"file": "cu.extxyz"}]},
        "oracle": {"calculator": "oracles:CountingEMT",
                   "params": {"counter": str(folder / "calls.txt")}, "workers": 2,
                   "timeout": "60 s"},
        "potential": {"level": 8, "cutoff": 5.0, "fit_steps": 0,
                      "weights": {"energy": 1.0, "forces": 0.3, "stress": 0.001}},
        "bootstrap": {"method": "rattle", "count": 4, "rattle": 0.04, "strain": 0.02},
        "active_learning": {"max_new": 4, "converge_after": "2 ps"},
        "md": {"dump_every": 25, "phases": [
            {"name": "nvt", "ensemble": "nvt", "temperature": 1000, "length": "1 ps"}]},
        "validation": {"frames": 8},
        "melt_quench": {"melt_temperature": 2600, "melt": "1 ps", "temperature": 1200,
                        "cool": "1 ps", "equilibrate": "0.5 ps", "production": "1 ps",
                        "pressure": "0 bar", "chunk": "0.5 ps"},
        "diffusion": {"species": "Cu", "temperatures": [2600, 2200], "production": "2 ps",
                      "length": "1 ps", "hop_length": 2.5, "stop_without_hops": False},
        "stages": ["bootstrap", "learn", "validate", "melt_quench", "structure", "diffusion"],
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def lotf(config: Path, workdir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lotf", "run", str(config), "--workdir",
                             str(workdir)], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def finish(config: Path, workdir: Path) -> tuple[int, str]:
    process = lotf(config, workdir)
    return process.wait(), process.stderr.read()


def _without(value):
    if isinstance(value, dict):
        return {k: _without(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_without(v) for v in value]
    return value


def outcome(workdir: Path, counter: Path) -> dict:
    """What a finished run holds, to compare with the reference."""
    rows = list(ase.db.connect(str(workdir / "ledger.db")).select())
    attempts = sum(row.attempts for row in rows)
    final = max((workdir / "potentials").glob("gen-*"))
    results = json.loads((workdir / "results.json").read_text())
    return {"duplicates": sum(n - 1 for n in Counter(r.key for r in rows).values()),
            "repeated_calls": count_calls(counter) - attempts,
            "structures": {content_key(a, "") for a in Ledger(workdir / "ledger.db").labelled()},
            "potential": (final.name, (final / "pot.mtp").read_bytes()),
            "results": _without(results)}


def differs(mine: dict, reference: dict) -> list[str]:
    return [part for part in ("structures", "potential", "results") if mine[part] != reference[part]]


def killed_runs(root: Path, count: int, duration: float, reference: dict, rng) -> dict:
    tally = Counter()
    for run in range(count):
        folder = root / f"kill-{run}"
        folder.mkdir()
        config = campaign(folder)
        kills = rng.randint(1, 3)
        for _ in range(kills):
            process = lotf(config, folder / "run")
            time.sleep(rng.uniform(1.0, duration))
            if process.poll() is None:
                process.kill()
                tally["kills"] += 1
            process.wait()
        code, _ = finish(config, folder / "run")
        mine = outcome(folder / "run", folder / "calls.txt")
        tally["runs"] += 1
        tally["finished"] += code == 0
        tally["duplicate_rows"] += mine["duplicates"]
        tally["repeated_calls"] += mine["repeated_calls"]
        tally["diverged"] += bool(differs(mine, reference))
    return dict(tally)


def signalled_runs(root: Path, count: int, duration: float, reference: dict, rng) -> dict:
    tally, stops = Counter(), []
    for run in range(count):
        folder = root / f"signal-{run}"
        folder.mkdir()
        config = campaign(folder)
        process = lotf(config, folder / "run")
        time.sleep(rng.uniform(2.0, duration))
        if process.poll() is not None:
            continue
        sent = time.monotonic()
        process.send_signal(rng.choice([signal.SIGTERM, signal.SIGINT]))
        code = process.wait()
        stops.append(time.monotonic() - sent)
        tally["signalled"] += 1
        tally["exit_130"] += code == 130
        tally["traceback"] += "Traceback" in process.stderr.read()
        code, _ = finish(config, folder / "run")
        mine = outcome(folder / "run", folder / "calls.txt")
        tally["finished"] += code == 0
        tally["diverged"] += bool(differs(mine, reference))
    return {**tally, "seconds_to_stop_max": round(max(stops, default=0.0), 2)}


def damaged_runs(root: Path, reference_dir: Path, reference: dict) -> dict:
    """Each kind of damage once, on a copy of the finished reference run."""
    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def reopen(workdir: Path, stage: str) -> None:
        state = json.loads((workdir / "state.json").read_text())
        del state["stages"][stage]
        (workdir / "state.json").write_text(json.dumps(state))

    def pages(path: Path) -> None:
        data = bytearray(path.read_bytes())
        middle = (len(data) // 4096 // 2) * 4096
        data[middle:middle + 4096] = os.urandom(4096)
        path.write_bytes(bytes(data))

    def lose_state(workdir: Path) -> None:
        (workdir / "state.json").unlink()
        (workdir / "state.json.prev").unlink()

    def damage_potential(workdir: Path) -> None:
        truncate(max((workdir / "potentials").glob("gen-*")) / "pot.mtp")
        reopen(workdir, "validate")

    def damage_chunk(workdir: Path) -> None:
        truncate(workdir / "protocols" / "melt-quench" / "replica-0" / "state-0001.extxyz")

    kinds = {"state.json truncated": lambda w: truncate(w / "state.json"),
             "state.json and its backup deleted": lose_state,
             "ledger.db pages overwritten": lambda w: pages(w / "ledger.db"),
             "final pot.mtp truncated": damage_potential,
             "melt-quench chunk state truncated": damage_chunk}
    report = {}
    for name, damage in kinds.items():
        workdir = root / f"damage-{len(report)}"
        shutil.copytree(reference_dir, workdir)
        damage(workdir)
        code, stderr = finish(reference_dir.parent / "campaign.yaml", workdir)
        said = [line.split(" WARNING ", 1)[-1] for line in stderr.splitlines() if "WARNING" in line]
        entry = {"exit": code, "said": said[:3], "traceback": "Traceback" in stderr}
        if code == 0:
            mine = outcome(workdir, reference_dir.parent / "calls.txt")
            entry["differs_from_reference"] = differs(mine, reference)
        report[name] = entry
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--signals", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="lotf-audit-") as tmp:
        root = Path(tmp)
        (root / "reference").mkdir()
        config = campaign(root / "reference")
        clock = time.monotonic()
        code, stderr = finish(config, root / "reference" / "run")
        duration = time.monotonic() - clock
        if code != 0:
            raise SystemExit(f"the reference run failed: {stderr[-2000:]}")
        reference = outcome(root / "reference" / "run", root / "reference" / "calls.txt")
        report = {"reference_seconds": round(duration, 1),
                  "reference_generation": reference["potential"][0],
                  "kills": killed_runs(root, args.kills, duration, reference, rng),
                  "signals": signalled_runs(root, args.signals, duration, reference, rng),
                  "damage": damaged_runs(root, root / "reference" / "run", reference)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
