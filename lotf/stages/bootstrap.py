"""Bootstrap: the first labelled data, before any potential exists."""

import numpy as np
from ase import Atoms

from lotf.config import RattleBootstrap
from lotf.errors import StageFailed
from lotf.labelling import label
from lotf.log import logger
from lotf.stages import register_stage
from lotf.stages.context import Context
from lotf.store import read_structures, write_structures


def rattled_copies(structures: list[Atoms], spec: RattleBootstrap, seed: int) -> list[Atoms]:
    """`spec.count` copies of each structure, randomly strained and with Gaussian displacements."""
    copies = []
    for index, atoms in enumerate(structures):
        for copy_index in range(spec.count):
            rng = np.random.default_rng([seed, index, copy_index])
            strain = rng.uniform(-spec.strain, spec.strain, (3, 3))
            strain = (strain + strain.T) / 2
            copy = atoms.copy()
            copy.calc = None
            copy.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
            copy.positions += rng.normal(0.0, spec.rattle, copy.positions.shape)
            copies.append(copy)
    return copies


@register_stage("bootstrap")
def bootstrap(ctx: Context) -> dict:
    """Make the bootstrap structures once, save them, and label whatever the ledger lacks."""
    path = ctx.run.structures / "bootstrap.extxyz"
    if path.is_file():
        candidates = read_structures(path)
    else:
        initial = ctx.initial_structures()
        candidates = write_structures(
            path, rattled_copies(initial, ctx.config.bootstrap, ctx.config.seed)
        )
    logger.info("bootstrap: %d structures to label with %s", len(candidates),
                ctx.config.oracle.calculator)
    report = label(candidates, ctx.ledger, ctx.config.oracle, ctx.run.oracle_calls, "bootstrap")
    logger.info("bootstrap: %s", report.summary())
    if report.usable == 0:
        raise StageFailed(
            f"bootstrap: no structure could be labelled; see the calls' logs under "
            f"{ctx.run.oracle_calls}"
        )
    return {"structures": len(candidates), "labelled": report.labelled,
            "quarantined": report.quarantined}
