"""lotf's active set and grade are MLIP-3's own: the same rows in A, the same grades.

tests/data/mlip/grades/noncubic/10 holds, unchanged from ../shared/reference/mlip/grades, the
neighbourhood active set MLIP-3 built from ../../../noncubic/10/pot.mtp and all 1001 training
frames (`nbh.almtp.gz`), and `mlp calculate_grade` on those frames (`grades.cfg.gz`: the same
frames in the same order, each neighbourhood's grade in the `nbh_grades` column, 17 digits).
"""

from pathlib import Path

import numpy as np
from mlip_files import frames_with_grades, mlip_active_matrix

from lotf.potential.native_backend import NativeMTP

DATA = Path(__file__).parent / "data" / "mlip"
CASE = DATA / "grades" / "noncubic" / "10"


def test_neighbourhood_active_set_and_grades_are_mlip3s():
    potential = NativeMTP.from_mtp_file(DATA / "noncubic" / "10" / "pot.mtp", ["Cu"])
    frames = frames_with_grades(CASE / "grades.cfg.gz")
    assert len(frames) == 1001
    potential.update_active_set(frames, "neighbourhood")
    matrix = potential.active_set.matrix
    reference = mlip_active_matrix(CASE / "nbh.almtp.gz", len(matrix))
    # the same training neighbourhoods (or placeholders) in the same rows of A
    assert np.abs(matrix - reference).max() <= 1e-9 * np.abs(reference).max()
    rows, _ = potential.basis_rows(frames, "neighbourhood")
    expected = np.concatenate([atoms.arrays["nbh_grades"] for atoms in frames])
    grades = potential.active_set.grades(rows)
    assert np.abs(grades - expected).max() <= 1e-6  # MLIP's last digits carry its 1e6 placeholders
    assert grades.max() <= 1.001
