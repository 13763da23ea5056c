"""The default oracle for real: GFN1-xTB through the pool equals GFN1-xTB called directly."""

import numpy as np
import pytest
from tblite.ase import TBLite

from lotf.build.amorphous import AmorphousSpec, pack
from lotf.labelling import label
from lotf.ledger import OK, Ledger, content_key
from lotf.oracle import fingerprint
from lotf.oracle.settings import Oracle


def test_gfn1_labels_through_the_pool_match_a_direct_call(tmp_path):
    spec = AmorphousSpec(builder="amorphous", units={"PS4": 1, "Li": 3}, density=1.8,
                         min_distance={"default": 2.2})
    atoms = pack(spec, np.random.default_rng(0))
    oracle = Oracle.model_validate({"calculator": "tblite", "timeout": "120 s"})
    ledger = Ledger(tmp_path / "ledger.db")
    report = label([atoms], ledger, oracle, tmp_path / "calls", "test")
    assert report.labelled == 1
    entry = ledger.get(content_key(atoms, fingerprint("tblite", {})))
    assert entry.status == OK
    direct = atoms.copy()
    direct.calc = TBLite(method="GFN1-xTB", verbosity=0)
    assert entry.atoms.get_potential_energy() == pytest.approx(direct.get_potential_energy(),
                                                               abs=1e-6)
    assert np.abs(entry.atoms.get_forces() - direct.get_forces()).max() < 1e-5
    assert np.abs(entry.atoms.get_stress() - direct.get_stress()).max() < 1e-6
    assert np.abs(entry.atoms.get_forces().sum(axis=0)).max() < 1e-6  # Newton's third law
