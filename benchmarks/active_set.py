"""Building MLIP's neighbourhood active set: time, and agreement with MLIP-3's own.

For each reference case (MLIP-3's active set and grades of the Cu training sets in
../shared/reference/mlip/grades, or the copy in tests/data when that is absent): the seconds to
evaluate every training neighbourhood's basis row, the seconds MaxVol takes on those rows, their
ratio (machine-independent: the build is worth a few basis passes), and how far
lotf's A and grades are from MLIP-3's. Issue #17 measured MLIP-3's own build (mlp train
--iteration_limit=0) at 8.1 s for a level-10 set on this kind of machine; it is not rerun here.
Prints JSON.  Usage: python benchmarks/active_set.py
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from mlip_files import frames_with_grades, mlip_active_matrix  # noqa: E402

from lotf.potential.activeset import ActiveSet  # noqa: E402
from lotf.potential.native_backend import NativeMTP  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "reference" / "mlip"
LOCAL = HERE.parent / "tests" / "data" / "mlip"


def cases() -> list[tuple[Path, Path]]:
    """(grades folder, pot.mtp) of every reference active set at hand."""
    root = SHARED if (SHARED / "grades").is_dir() else LOCAL
    return [(folder, root / folder.parent.name / folder.name / "pot.mtp")
            for folder in sorted((root / "grades").glob("*/*")) if (folder / "nbh.almtp.gz").is_file()]


def measure(folder: Path, mtp: Path) -> dict:
    potential = NativeMTP.from_mtp_file(mtp, ["Cu"])
    frames = frames_with_grades(folder / "grades.cfg.gz")
    start = time.perf_counter()
    rows, _ = potential.basis_rows(frames, "neighbourhood")
    basis_seconds = time.perf_counter() - start
    start = time.perf_counter()
    active = ActiveSet.from_rows(rows, "neighbourhood", potential.grade_order())
    build_seconds = time.perf_counter() - start
    reference = mlip_active_matrix(folder / "nbh.almtp.gz", len(active.matrix))
    expected = np.concatenate([atoms.arrays["nbh_grades"] for atoms in frames])
    difference = np.abs(active.grades(rows) - expected)
    return {"case": f"{folder.parent.name}/{folder.name}", "frames": len(frames),
            "rows": int(rows.shape[0]), "parameters": int(rows.shape[1]),
            "basis_seconds": round(basis_seconds, 3), "build_seconds": round(build_seconds, 3),
            "build_over_basis": round(build_seconds / basis_seconds, 3),
            "max_abs_A_difference": float(np.abs(active.matrix - reference).max()),
            "max_grade_difference": float(difference.max()),
            "median_grade_difference": float(np.median(difference))}


if __name__ == "__main__":
    print(json.dumps({"cases": [measure(folder, mtp) for folder, mtp in cases()]}, indent=2))
