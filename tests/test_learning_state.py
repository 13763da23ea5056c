"""The learning state's saved form: what state.json's `learn` section holds and reads back."""

from lotf.learning.state import LearningState

POSITIONAL = {  # the form before phases were keyed by name
    "phase": 1, "md_fs_without_break": 500.0, "walker_fs_without_break": [500.0, 250.0],
    "breaks": 3, "breaks_in_phase": 2, "segments": 7, "stuck": 1, "broke": [0],
    "generations": {"0": {"md_ps": 1.5, "trained_on": 12, "weights": {"energy": 1.0}},
                    "1": {"md_ps": 0.0, "trained_on": 16, "train_rmse": {"structures": 16}},
                    "2": {"md_ps": 0.25}},
    "converged_phases": {"nvt": 2.0}, "pending_selection": None,
    "restarts": {"nvt": {"0": "structures/restarts/nvt/walker-0.segment-3.extxyz"}},
    "harvest": [],
}


def test_the_positional_form_loads_with_its_converged_phases_by_name():
    state = LearningState.model_validate(POSITIONAL)
    assert state.converged_phases == {"nvt": 2.0} and state.phases == {}
    assert (state.breaks, state.segments, state.stuck) == (3, 7, 1)
    assert state.committed() == [0, 1] and state.latest() == 1  # gen 2 was never trained
    assert state.restarts == POSITIONAL["restarts"]
    assert state.clean_ps() == 0.0  # the phase that was running starts its count again


def test_the_saved_form_reads_back_as_it_was_written():
    state = LearningState.model_validate(POSITIONAL)
    state.current = "npt"
    state.phase("npt").walker_fs_without_break = [1500.0, 900.0]
    state.record(1, md_ps=0.5, last_seed=42)
    data = state.to_json()
    assert data["generations"]["1"] == {"md_ps": 0.5, "trained_on": 16, "last_seed": 42,
                                        "train_rmse": {"structures": 16}}
    assert "trained_on" not in data["generations"]["2"]  # a record says only what is known
    again = LearningState.model_validate(data)
    assert again.to_json() == data and again.clean_ps() == 0.9
