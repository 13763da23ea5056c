"""The audit stage on EMT Cu glasses: the oracle relabels production frames, the errors there
are computed as a direct comparison would, a failing audit retrains and reruns the melt-quench,
a passing one changes nothing."""

import json
import shutil

import numpy as np
import pytest
import yaml
from test_glass_stages import MELT_QUENCH, _campaign

from lotf.context import Context
from lotf.learning.learner import Learner
from lotf.ledger import Ledger, oracle_id
from lotf.oracle import fingerprint
from lotf.schema import load_config
from lotf.store import RunDir

from conftest import run_lotf

SHORT = {**MELT_QUENCH, "melt": "0.4 ps", "cool": "0.4 ps", "equilibrate": "0.2 ps",
         "production": "1 ps", "chunk": "0.5 ps"}


def _with_audit(tmp_path, audit: dict):
    config = _campaign(tmp_path, ["bootstrap", "learn", "melt_quench", "audit"])
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**data, "melt_quench": SHORT, "audit": audit}))
    return config


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    done = run_lotf(_campaign(tmp, ["bootstrap", "learn"]), tmp / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp


def _audited(learned, tmp_path, audit):
    shutil.copytree(learned / "run", tmp_path / "run")
    shutil.copy(learned / "cu.extxyz", tmp_path)
    shutil.copy(learned / "fcc.cif", tmp_path)
    config = _with_audit(tmp_path, audit)
    done = run_lotf(config, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    return config, results["audit"], json.loads((tmp_path / "run" / "state.json").read_text())


def test_a_failing_audit_retrains_and_reruns_the_melt_quench(learned, tmp_path):
    config, audit, state = _audited(learned, tmp_path,
                                    {"frames": 6, "energy_rmse": 1e-6, "rounds": 2})
    assert audit["rounds"] == 2 and audit["passed"] is False
    assert "the audit failed in all 2 round(s)" in audit["flag"]
    first, second = audit["history"]
    assert first["frames"] == 6 and not first["passed"]
    assert second["generation"] > first["generation"]  # retrained on the audit's labels
    trained = state["learn"]["generations"]
    assert trained[str(first["generation"] + 1)]["trained_on"] >= \
        trained[str(first["generation"])]["trained_on"] + 6
    run = tmp_path / "run"
    assert (run / "protocols" / "melt-quench.audit-0" / "melt-quench.extxyz").is_file()
    assert (run / "protocols" / "melt-quench" / "replica-0").is_dir()  # run again
    # the round's numbers are a direct comparison of that generation with the oracle's labels
    campaign = load_config(config)
    ctx = Context(campaign, RunDir(run), Ledger(run / "ledger.db"))
    oracle = oracle_id(fingerprint(campaign.oracle.calculator, campaign.oracle.params))
    source = f"audit-{first['generation']:04d}"
    labelled = [atoms for name, atoms in ctx.ledger.labelled_sources(oracle, lambda s: s == source)]
    assert len(labelled) == 6
    potential = Learner(ctx).generation(first["generation"])
    errors = [(potential.evaluate(a).energy - a.get_potential_energy()) / len(a) for a in labelled]
    assert first["energy_rmse_mev_per_atom"] == pytest.approx(
        1e3 * np.sqrt(np.mean(np.square(errors))), rel=1e-9)
    pressure = [-np.sum(potential.evaluate(a).stress[:3] - a.get_stress()[:3]) / 3 * 160.21766208
                for a in labelled]
    assert first["pressure_mean_error_gpa"] == pytest.approx(np.mean(pressure), rel=1e-9)


def test_a_passing_audit_changes_nothing(learned, tmp_path):
    before = json.loads((learned / "run" / "state.json").read_text())
    _, audit, state = _audited(learned, tmp_path,
                               {"frames": 4, "energy_rmse": 1e6, "forces_rmse": 1e6,
                                "pressure_rmse": 1e6})
    assert audit["rounds"] == 1 and audit["passed"] is True and "flag" not in audit
    assert not (tmp_path / "run" / "protocols" / "melt-quench.audit-0").exists()
    # no generation beyond what the melt-quench itself trained
    assert audit["generation"] == state["stages"]["melt_quench"]["generation"]
    assert audit["generation"] >= int(max(before["learn"]["generations"], key=int))
