"""What every MTP backend shares: its MLIP .mtp file, saving, and `pair_style mtp` in LAMMPS.

A backend says how it writes its coefficients as an .mtp file; saving a generation and running
inside LAMMPS through lotf's plugin (the file plus the active set's grade file) follow from that.
"""

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lotf.lammps_plugins import plugin_path
from lotf.potential.base import Potential

MTP_FILE = "pot.mtp"
GRADE_FILE = "grade.txt"


class MTPPotential(Potential):
    """A moment tensor potential: MLIP's file format, evaluable by `pair_style mtp`."""

    pair_style = "mtp"
    level: int

    @abstractmethod
    def write_mtp(self, path: Path) -> None:
        """Write the potential as an MLIP .mtp file (which carries no species names)."""

    @abstractmethod
    def _basis_blocks(self) -> tuple[int, int, int]:
        """How many moment, species and radial coefficients the basis columns hold, in that order."""

    def grade_order(self) -> np.ndarray:
        """MLIP's coefficient order (radial, species, moment) for the active set, so that its
        MaxVol breaks ties and replaces placeholders as MLIP's does."""
        moments, species, radial = self._basis_blocks()
        start = moments + species
        return np.r_[np.arange(start, start + radial), np.arange(moments, start),
                     np.arange(moments)]

    def _save(self, directory: Path) -> dict:
        self.write_mtp(directory / MTP_FILE)
        if self.active_set is not None:  # what LAMMPS reads, so MD need not write it per run
            self.active_set.save_for_lammps(directory / GRADE_FILE)
        return {"mtp": MTP_FILE, "level": self.level, "cutoff": self.cutoff,
                "min_dist": self.min_dist}

    def write_lammps_pair(self, directory: Path) -> list[str]:
        """The .mtp file and, with an active set, its grade file; `pair_style mtp` commands."""
        self.write_mtp(directory / MTP_FILE)
        if self.active_set is not None:
            self.active_set.save_for_lammps(directory / GRADE_FILE)
        return self._pair_commands(directory)

    def lammps_commands(self, scratch: Callable[[], Path]) -> list[str]:
        """lotf's plugin, then `pair_style mtp` on the saved generation's files (written into
        the folder `scratch()` makes only for a potential changed or never saved)."""
        saved = self.saved_in
        reusable = saved is not None and (saved / MTP_FILE).is_file() and (
            self.active_set is None or (saved / GRADE_FILE).is_file())
        pair = self._pair_commands(saved) if reusable else self.write_lammps_pair(scratch())
        return [f"plugin load {plugin_path()}", *pair]

    def _pair_commands(self, directory: Path) -> list[str]:
        style = "pair_style mtp"
        if self.active_set is not None:
            style += f" grade {directory / GRADE_FILE}"
        types = " ".join(str(index) for index in range(len(self.species)))
        return [style, f"pair_coeff * * {directory / MTP_FILE} {types}"]
