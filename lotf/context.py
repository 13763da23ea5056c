"""What every stage works with: the validated campaign, its run directory, its ledger and, in
a study, the fits its members share."""

from dataclasses import dataclass

from ase import Atoms

from lotf.config import Campaign
from lotf.learning.fit_cache import FitCache
from lotf.ledger import Ledger
from lotf.store import BOOTSTRAP_START, RunDir, read_structures, write_structures


@dataclass
class Context:
    """The campaign being run, where it lives, and its labelled data."""

    config: Campaign
    run: RunDir
    ledger: Ledger
    fit_cache: FitCache | None = None  # fits shared with the other campaigns of a study

    def initial_structures(self) -> list[Atoms]:
        """The system's start structures: built or read once, then always read back from disk."""
        path = self.run.initial_structures
        if path.is_file():
            return read_structures(path)
        structures: list[Atoms] = []
        for index, spec in enumerate(self.config.system.structures):
            structures += spec.build(seed=self.config.seed + 1000 * index)
        return write_structures(path, structures)

    def learning_starts(self) -> list[Atoms]:
        """Where the walkers' first MD starts: the initial structures, or, after an oracle-MD
        bootstrap, the last frame each one's oracle MD kept (equilibrated at the bootstrap's
        temperature, with its velocities, and labelled), as the paper starts from its AIMD."""
        starts = self.initial_structures()
        path = self.run.bootstrap_frames
        if path.is_file():
            ends = {frame.info[BOOTSTRAP_START]: frame for frame in read_structures(path)
                    if BOOTSTRAP_START in frame.info}
            starts = [ends.get(index, atoms) for index, atoms in enumerate(starts)]
        return starts
