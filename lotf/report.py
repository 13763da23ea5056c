"""The campaign's results.json (one entry per analysis, updated atomically) and its figures."""

import json
from pathlib import Path

from lotf.store import RunDir, atomic_write


def results_file(run: RunDir) -> Path:
    return run.path / "results.json"


def add_result(run: RunDir, name: str, result: dict) -> Path:
    """Set `name` in results.json, keeping every other entry."""
    path = results_file(run)
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[name] = result
    atomic_write(path, lambda handle: json.dump(results, handle, indent=2))
    return path


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (batch nodes have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(run: RunDir, name: str, figure) -> Path:
    """Write the figure as figures/<name>.png and release it."""
    path = run.path / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot().close(figure)
    return path
