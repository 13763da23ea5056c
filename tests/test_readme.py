"""CI must run exactly the test command the README gives."""

from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_ci_runs_the_readme_test_command():
    commands = [line.strip() for line in (ROOT / "README.md").read_text().splitlines()
                if line.startswith("    python3 -m venv")]
    assert len(commands) >= 2
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == commands[1]
