"""The level generator against MLIP-2's own untrained MTPs (lotf/potential/levels, identical to
../shared/reference/mlip/untrained): the same number of basis functions at every level, and the
same functions (each generated one equals exactly one of MLIP's on random atomic environments,
with the same radial functions)."""

from dataclasses import replace

import numpy as np
import pytest
from test_native_core import SPECIES, _random_cell

from lotf.potential.levels import contractions, generate
from lotf.potential.mtp_file import level_file, read_mtp
from lotf.potential.native_backend import NativeMTP

MLIP_COUNTS = {2: 1, 4: 2, 6: 5, 8: 9, 10: 16, 12: 29, 14: 52, 16: 92, 18: 163, 20: 288}


@pytest.mark.parametrize("level", sorted(MLIP_COUNTS))
def test_counts_equal_mlip(level):
    assert len(contractions(level)) == MLIP_COUNTS[level]


def _with_coefficients(mtp, radial: np.ndarray):
    species = len(SPECIES)
    mtp = replace(mtp, species_count=species, min_dist=1.6, max_dist=5.0)
    return mtp.with_parameters(np.concatenate([
        np.ones(len(mtp.alpha_moment_mapping)), np.zeros(species), radial.ravel()]))


@pytest.mark.parametrize("level", [4, 8, 12, 16, 20])
def test_same_functions_as_mlip(level):
    with level_file(level) as path:
        theirs = read_mtp(path)
    ours = generate(level)
    assert ours.radial_funcs_count == theirs.radial_funcs_count
    rng = np.random.default_rng(level)
    radial = rng.uniform(-1, 1, (len(SPECIES), len(SPECIES), ours.radial_funcs_count, 8))
    values = []
    for mtp in (ours, theirs):
        potential = NativeMTP(_with_coefficients(mtp, radial), SPECIES, level)
        rows = [potential._evaluate(_random_cell(seed, repeat=(2, 2, 2)), with_basis=True).basis
                for seed in range(3)]
        values.append(np.vstack(rows)[:, :len(mtp.alpha_moment_mapping)])
    ours_values, theirs_values = values
    scale = np.abs(theirs_values).max(axis=0)
    matched = set()
    for column in ours_values.T:
        error = np.abs(theirs_values - column[:, None]).max(axis=0) / scale
        match = int(np.argmin(error))
        assert error[match] < 1e-9, f"a generated function is not in MLIP's level {level}"
        matched.add(match)
    assert len(matched) == MLIP_COUNTS[level]  # one to one


def test_bad_level():
    with pytest.raises(ValueError, match="even"):
        generate(7)
