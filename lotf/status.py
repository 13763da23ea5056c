"""What a campaign has done so far, read from its run directory without taking its lock."""

from pathlib import Path
from typing import Any

from lotf.errors import UserError
from lotf.ledger import Ledger
from lotf.store import RunDir


def campaign_status(path: Path) -> dict[str, Any]:
    """Stage, generation, oracle call counts and convergence of the campaign in `path`."""
    run = RunDir(path)
    if not run.exists():
        raise UserError(f"{path} is not a lotf run directory (it has no campaign.yaml)")
    state = run.read_state()
    calls = Ledger(run.ledger_file).call_counts() if run.ledger_file.is_file() else {
        "ok": 0, "failed": 0, "quarantined": 0, "total": 0}
    done = [name for name, stage in state["stages"].items() if stage.get("status") == "done"]
    return {
        "run_dir": str(run.path),
        "stage": state.get("stage"),
        "stages_done": done,
        "stages": state["stages"],
        "generation": state.get("generation", 0),
        "oracle_calls": calls,
        "converged": state.get("converged", False),
        "updated": state.get("updated"),
    }


def render(report: dict[str, Any]) -> str:
    """A few readable lines for the terminal."""
    calls = report["oracle_calls"]
    lines = [
        f"run directory : {report['run_dir']}",
        f"stage         : {report['stage']} (done: {', '.join(report['stages_done']) or 'none'})",
        f"generation    : {report['generation']}",
        f"oracle calls  : {calls['total']} ({calls['ok']} ok, {calls['failed']} failed, "
        f"{calls['quarantined']} configurations quarantined)",
        f"converged     : {'yes' if report['converged'] else 'no'}",
        f"updated       : {report['updated']}",
    ]
    return "\n".join(lines)
