"""The `consolidate` stage: one potential trained on several campaigns' labels and this one's.

Labels of the listed run directories by this campaign's oracle (same fingerprint) are copied
into this campaign's ledger, marked with where they came from, so the consolidated campaign
stands on its own; then the next generation is trained on everything, and its errors are
reported per source campaign.
"""


from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from lotf.context import Context
from lotf.errors import StageFailed, UserError
from lotf.learning.learner import Learner
from lotf.ledger import NOT_FOR_TRAINING, Ledger, oracle_id
from lotf.log import logger
from lotf.model import Strict
from lotf.oracle import fingerprint
from lotf.report import add_result
from lotf.stages.registry import Section, register_stage


class Consolidate(Strict):
    """Other campaigns' run directories whose labels, with this campaign's own, train one
    potential (the paper's single MTP for Li3PS4, Li3B11O18 and their interface)."""

    campaigns: list[Path] = Field(min_length=1)

    @field_validator("campaigns")
    @classmethod
    def _run_directories(cls, paths: list[Path], info: ValidationInfo) -> list[Path]:
        base = (info.context or {}).get("base_dir", Path.cwd())
        found = []
        for index, path in enumerate(paths):
            full = (base / path).resolve()
            if not (full / "ledger.db").is_file():
                raise ValueError(f"[{index}] '{path}' is not a run directory with a ledger.db "
                                 f"(looked in {full})")
            found.append(full)
        return found

@register_stage("consolidate", section=Section("consolidate", Consolidate | None))
def consolidate(ctx: Context) -> dict:
    config = ctx.config
    if config.consolidate is None:
        raise UserError("the consolidate stage needs a `consolidate: {campaigns: [...]}` section")
    key_of = fingerprint(config.oracle.calculator, config.oracle.params)
    by_campaign = {}
    for directory in config.consolidate.campaigns:
        frames = Ledger(directory / "ledger.db").labelled(oracle_id(key_of), NOT_FOR_TRAINING)
        if not frames:
            raise StageFailed(f"consolidate: {directory} has no labels from this campaign's "
                              f"oracle ({config.oracle.calculator}, same parameters)")
        extra = {s for atoms in frames for s in atoms.get_chemical_symbols()} - \
            set(config.system.species)
        if extra:
            raise StageFailed(f"consolidate: {directory} has {sorted(extra)}, not in species "
                              f"{config.system.species}")
        added = sum(ctx.ledger.record_imported(atoms, key_of, f"consolidate:{directory.name}",
                                               str(directory)) for atoms in frames)
        logger.info("consolidate: %d labels from %s (%d new here)", len(frames), directory, added)
        by_campaign[str(directory)] = frames
    latest = ctx.run.latest_generation()
    generation = 0 if latest is None else latest + 1
    potential = Learner(ctx).train(generation)
    errors = {name: potential.errors(frames) for name, frames in by_campaign.items()}
    add_result(ctx.run, "consolidation", {"generation": generation, "errors": errors})
    for name, report in errors.items():
        logger.info("consolidate: generation %d on %s: RMSE %.2f meV/atom, %.3f eV/Å",
                    generation, name, report["energy_rmse_mev_per_atom"],
                    report["forces_rmse_ev_per_a"])
    return {"generation": generation, "campaigns": len(by_campaign)}
