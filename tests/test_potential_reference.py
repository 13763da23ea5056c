"""MLIP-2's own potentials and calc-efs outputs, reproduced through lotf's potential interface.

../shared/reference/mlip/{cubic,noncubic}/NN/pot.mtp were trained by MLIP-2; out.cfg.gz holds
the energies, forces and stresses MLIP-2 computed with them on training.cfg.gz (printed to
12, 6 and 5 decimals). Reproducing them to that precision is the definition of a correct MTP.
tests/data/mlip holds every 5th frame of those files, unchanged (see subset.py there).
"""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from lotf.potential.motep_backend import MotepMTP
from lotf.potential.native_backend import NativeMTP

REFERENCE = Path(__file__).parent / "data" / "mlip"
CASES = sorted((p.parent.parent.name, p.parent.name) for p in REFERENCE.glob("*/*/pot.mtp"))


def _read_cfg(path: Path, tmp_path: Path) -> list:
    from motep.io.mlip.cfg import read_cfg

    plain = tmp_path / path.name.removesuffix(".gz")
    with gzip.open(path) as source, open(plain, "wb") as target:
        shutil.copyfileobj(source, target)
    return read_cfg(plain, index=":", species=[29])


def test_all_reference_potentials_are_here():
    assert len(CASES) == 15


@pytest.mark.parametrize("backend", [NativeMTP, MotepMTP], ids=["native", "motep"])
@pytest.mark.parametrize("cell,level", CASES, ids=[f"{c}-{lv}" for c, lv in CASES])
def test_mlip2_outputs_reproduced(cell, level, backend, tmp_path):
    potential = backend.from_mtp_file(REFERENCE / cell / level / "pot.mtp", ["Cu"])
    inputs = _read_cfg(REFERENCE / cell / "training.cfg.gz", tmp_path)
    expected = _read_cfg(REFERENCE / cell / level / "out.cfg.gz", tmp_path)
    assert len(inputs) == len(expected) > 100
    for atoms, reference in zip(inputs, expected, strict=True):
        result = potential.evaluate(atoms)
        assert result.energy == pytest.approx(reference.get_potential_energy(), abs=1e-6)
        assert np.abs(result.forces - reference.get_forces()).max() <= 5e-7 + 1e-9
        virial_error = np.abs(result.stress - reference.get_stress()) * atoms.get_volume()
        assert virial_error.max() <= 5e-6 + 1e-8
