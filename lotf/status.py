"""What a campaign has done so far, read from its run directory without taking its lock."""

import json
from pathlib import Path
from typing import Any

from lotf.errors import UserError
from lotf.learning.state import LearningState
from lotf.ledger import Ledger
from lotf.store import RunDir


def status(path: Path) -> dict[str, Any]:
    """The campaign's status, or for a study's folder (study.json) each member's in order."""
    record = path / "study.json"
    if not record.is_file():
        return campaign_status(path)
    study = json.loads(record.read_text())
    members = {name: campaign_status(path / name) if RunDir(path / name).exists() else None
               for name in study.get("members", study["done"])}
    return {"study": str(path.resolve()), "time_scale": study["time_scale"],
            "done": study["done"], "seconds": study.get("seconds", {}), "members": members}


def campaign_status(path: Path) -> dict[str, Any]:
    """Stage, generation, oracle call counts and convergence of the campaign in `path`."""
    run = RunDir(path)
    if not run.exists():
        raise UserError(f"{path} is not a lotf run directory (it has no campaign.yaml) nor a "
                        "study's folder (study.json)")
    state = run.read_state()
    calls = Ledger(run.ledger_file).call_counts() if run.ledger_file.is_file() else {
        "ok": 0, "failed": 0, "quarantined": 0, "imported": 0, "total": 0}
    done = [name for name, stage in state["stages"].items() if stage.get("status") == "done"]
    learn = state.get("learn", {})
    generations = learn.get("generations", {})
    return {
        "run_dir": str(run.path),
        "stage": state.get("stage"),
        "stages_done": done,
        "stages": state["stages"],
        "generation": state.get("generation", 0),
        "oracle_calls": calls,
        "converged": state.get("converged", False),
        "phase": learn.get("current"),
        "md_time_ps_without_break": _clean_md_ps(state, learn),
        "converged_phases": learn.get("converged_phases", {}),
        "unconverged_phases": learn.get("unconverged_phases", {}),
        "breaks": learn.get("breaks", 0),
        "checks": learn.get("checks", {}),
        "train_rmse": {gen: facts["train_rmse"] for gen, facts in generations.items()
                       if "train_rmse" in facts},
        "generations": generations,
        "updated": state.get("updated"),
    }


def _clean_md_ps(state: dict, learn: dict) -> float:
    """MD time without a break: of the phase running, or of the last phase once all converged."""
    finished = list(learn.get("converged_phases", {}).values())
    if state.get("converged") and finished:
        return finished[-1]
    return LearningState.model_validate(learn).clean_ps()


def render(report: dict[str, Any]) -> str:
    """A few readable lines for the terminal (a line per member for a study)."""
    if "study" in report:
        lines = [f"study         : {report['study']} (time scale {report['time_scale']:g})"]
        for name, member in report["members"].items():
            if member is None:
                lines.append(f"  {name:<22}not started")
                continue
            state = "done" if name in report["done"] else f"at {member['stage']}"
            if member["unconverged_phases"]:
                state += f" (unconverged: {', '.join(member['unconverged_phases'])})"
            took = report["seconds"].get(name)
            lines.append(f"  {name:<22}{state}, generation {member['generation']}, "
                         f"{member['oracle_calls']['total']} oracle calls"
                         + (f", {took / 60:.1f} min" if took is not None else ""))
        return "\n".join(lines)
    calls = report["oracle_calls"]
    lines = [
        f"run directory : {report['run_dir']}",
        f"stage         : {report['stage']} (done: {', '.join(report['stages_done']) or 'none'})",
        f"generation    : {report['generation']}",
        f"oracle calls  : {calls['total']} ({calls['ok']} ok, {calls['failed']} failed, "
        f"{calls['quarantined']} configurations quarantined; {calls['imported']} labels imported)",
        f"learning      : phase {report['phase'] or '-'}, {report['breaks']} breaks, "
        f"{report['md_time_ps_without_break']:.1f} ps of MD without a break",
        f"converged     : {'yes' if report['converged'] else 'no'}"
        + (f" (ended unconverged by active_learning.max_iterations: "
           f"{', '.join(report['unconverged_phases'])})" if report["unconverged_phases"] else ""),
    ]
    lines += [f"checked       : {phase}: {_checks(rounds)}"
              for phase, rounds in report.get("checks", {}).items() if rounds]
    lines.append(f"updated       : {report['updated']}")
    return "\n".join(lines)


def _checks(rounds: list[dict]) -> str:
    """A phase's checks against the oracle in a few words: how many passed, and the last."""
    last = rounds[-1]
    return (f"{sum(r['passed'] for r in rounds)} of {len(rounds)} passed; the last (generation "
            f"{last['generation']}) {last['energy_rmse_mev_per_atom']:.1f} meV/atom, "
            f"{last['forces_rmse_ev_per_a']:.3f} eV/Å, {last['pressure_rmse_gpa']:.2f} GPa RMSE")
