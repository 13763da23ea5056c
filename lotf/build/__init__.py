"""Structure builders, chosen by the `builder:` key of a structure in the campaign."""

from collections.abc import Callable

import numpy as np
from ase import Atoms

from lotf.build.amorphous import AmorphousSpec, pack

BUILDERS: dict[str, Callable[[object, np.random.Generator], Atoms]] = {"amorphous": pack}


def build(spec: AmorphousSpec, seed: int) -> list[Atoms]:
    """All replicas of a built structure; replica r is reproducible from (seed, r)."""
    builder = BUILDERS[spec.builder]
    return [builder(spec, np.random.default_rng([seed, r])) for r in range(spec.replicas)]
