"""The campaign's results.json (one entry per analysis, updated atomically) and its figures."""

import json
import math
from pathlib import Path
from typing import Any

from lotf.store import RunDir, atomic_write


def results_file(run: RunDir) -> Path:
    return run.results_file


def read_results(run: RunDir) -> dict:
    """results.json as written so far ({} before the first result)."""
    path = results_file(run)
    return json.loads(path.read_text()) if path.is_file() else {}


def add_result(run: RunDir, name: str, result: dict) -> Path:
    """Set `name` in results.json, keeping every other entry. The file is strict JSON: a value
    that is not a finite number is written as null, with a note beside it saying what it was."""
    path = results_file(run)
    results = read_results(run)
    results[name] = strict(result)
    atomic_write(path, lambda handle: json.dump(results, handle, indent=2, allow_nan=False))
    return path


def strict(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None (in a mapping, noted as `<key>_note`)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key] = strict(item)
            if _not_finite(item) and f"{key}_note" not in value:
                out[f"{key}_note"] = f"not a finite number ({item}): no value can be given"
        return out
    if isinstance(value, list | tuple):
        return [strict(item) for item in value]
    return None if _not_finite(value) else value


def _not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (batch nodes have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(run: RunDir, name: str, figure, data: list[dict] | None = None) -> Path:
    """Write the figure as figures/<name>.png and, for publication, .svg and .pdf (vector),
    with the numbers drawn as figures/<name>.csv (one row per point); release it."""
    path = run.figure(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    figure.savefig(path.with_suffix(".svg"))
    figure.savefig(path.with_suffix(".pdf"))
    pyplot().close(figure)
    if data:
        write_csv(path.with_suffix(".csv"), data)
    return path


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows as CSV, atomically; the columns are every key in the order first seen (a row
    without one leaves it empty)."""
    import csv

    columns = list(dict.fromkeys(key for row in rows for key in row))

    def write(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)

    atomic_write(path, write)
