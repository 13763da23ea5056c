"""What `pip install .` (not editable) ships: every folder of Python modules is a package."""

from pathlib import Path

LOTF = Path(__file__).parent.parent / "lotf"


def test_every_folder_of_modules_is_a_package():
    """setup.cfg's `packages = find:` leaves out a folder without __init__.py, and a wheel
    install then fails to import it (lotf.md was missing so)."""
    folders = {path.parent for path in LOTF.rglob("*.py") if "__pycache__" not in path.parts}
    assert sorted(str(f.relative_to(LOTF)) for f in folders if not (f / "__init__.py").is_file()) \
        == []
