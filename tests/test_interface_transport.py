"""Interface transport with known answers: displacements along a normal, crossing events."""

import numpy as np
import pytest
from ase import Atoms

from lotf.analysis.interface import (
    bonded_to_both,
    crossings,
    interface_transport,
    normal_displacements,
)
from lotf.analysis.msd import displacements

CUTOFFS = {"S": 2.8, "O": 2.3}


def _frame(li_x: float, li_z: float) -> Atoms:
    """One Li moving in a 10 x 10 x 20 Å cell between an S at z = 8 and an O at z = 12."""
    return Atoms("LiSO", positions=[[li_x, 5.0, li_z], [5.0, 5.0, 8.0], [5.0, 5.0, 12.0]],
                 cell=[10, 10, 20], pbc=True)


def test_net_displacement_along_a_normal():
    unwrapped = np.zeros((3, 2, 3))
    unwrapped[-1] = [[1.0, 2.0, 3.0], [0.0, 0.0, -4.0]]
    np.testing.assert_allclose(normal_displacements(unwrapped, [0, 0, 2]), [3.0, -4.0])
    np.testing.assert_allclose(normal_displacements(unwrapped, [1, 1, 0]),
                               [3 / np.sqrt(2), 0.0])


def test_bonded_to_both_sides_only_between_them():
    assert bonded_to_both(_frame(5.0, 10.0), "Li", CUTOFFS).tolist() == [True, False, False]
    assert not bonded_to_both(_frame(5.0, 7.0), "Li", CUTOFFS).any()  # S only
    assert not bonded_to_both(_frame(5.0, 13.0), "Li", CUTOFFS).any()  # O only


def test_crossing_events_with_a_lag():
    # z: on the S side, between (frames 2-4), back on the S side, between again (frame 7)
    path = [7.0, 7.0, 10.0, 10.0, 10.0, 7.0, 7.0, 10.0]
    frames = [_frame(4.5 + 0.125 * t, z) for t, z in enumerate(path)]
    assert [(e.frame, e.lateral) for e in crossings(frames, "Li", CUTOFFS, lag=1)] == \
        [(2, (4.75, 5.0)), (7, (5.375, 5.0))]
    # two frames of lag: frame 3 (bonded at 1? no) counts too, frame 4 (bonded at 2) does not
    assert [e.frame for e in crossings(frames, "Li", CUTOFFS, lag=2)] == [2, 3, 7]
    with pytest.raises(ValueError, match="at least one frame"):
        crossings(frames, "Li", CUTOFFS, lag=0)


def test_transport_entry_counts_ions_beyond_half_a_period():
    # Li walks +12 Å along c (over half of the 20 Å period) in 0.5 Å steps, unwrapped across
    frames = [_frame(5.0, (9.0 + 0.5 * k) % 20) for k in range(25)]
    pairs = ((atoms.positions, atoms.cell.array) for atoms in frames)
    unwrapped = displacements(pairs, np.array([True, False, False]), np.array([False, True, True]))
    entry = interface_transport([frames], [unwrapped], "Li", [0, 0, 1], CUTOFFS, lag=1, bins=4)
    assert entry["period_angstrom"] == pytest.approx(20.0)
    assert entry["fraction_beyond_half_period"] == 1.0
    assert sum(entry["counts"]) == 1
    # between S (8) and O (12): bonded to both for Li at 9.7 < z < 10.3 only once, entering
    assert entry["crossings"] == 1
