"""Cross-check against pymatgen-analysis-diffusion's DiffusionAnalyzer on one trajectory:
the same origin-averaged MSD, and D within 2 % over the same lags."""

import numpy as np
import pytest

from lotf.analysis.diffusion import tracer_diffusivity
from lotf.analysis.msd import displacements, msd

from test_diffusion import DT, _lattice_walk


def test_msd_and_diffusivity_agree_with_pymatgen():
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Lattice, Structure

    ions, hosts = 120, 40
    wrapped = _lattice_walk(ions, 1500, 0.08, 3, seed=21, drift=0.03, hosts=hosts)
    species = ["Li"] * ions + ["S"] * hosts
    lattice = Lattice.cubic(20.0)
    structures = [Structure(lattice, species, frame, coords_are_cartesian=True)
                  for frame in wrapped]
    theirs = DiffusionAnalyzer.from_structures(structures, "Li", temperature=300,
                                               time_step=DT * 1000, step_skip=1)
    hosts_mask = np.arange(ions + hosts) >= ions
    frames = ((positions, lattice.matrix) for positions in wrapped)
    ours = msd(displacements(frames, ~hosts_mask, framework=hosts_mask), DT)
    lags = np.rint(theirs.dt / (DT * 1000)).astype(int)
    np.testing.assert_allclose(ours.total()[lags], theirs.msd, rtol=1e-6)
    window = (theirs.dt.min() / 1000, theirs.dt.max() / 1000)
    estimate = tracer_diffusivity(ours, "total", hop_length=2.5, window_ps=window)
    assert estimate.value == pytest.approx(theirs.diffusivity, rel=0.02)
    print(f"D: lotf {estimate.value:.4e} ± {estimate.sigma:.1e}, pymatgen {theirs.diffusivity:.4e}"
          f" ± {theirs.diffusivity_std_dev:.1e} cm²/s")
