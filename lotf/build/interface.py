"""Two periodic bulks stacked along c into one cell with two interfaces (the paper's LPS|LBO).

The top block takes the bottom block's lateral cell (a small lateral strain, reported), sits a
gap above it, and is shifted laterally so that no pair across an interface is closer than its
minimum distance (the paper: Li-Li >= 2.5 Å, gap adjusted within 1.2-1.5 Å); pairs not named
keep the packer's default (0.85 x their covalent radii, or `default`), so no Li-S lands 1.3 Å
apart because only Li-Li was listed. The periodic cell
has two interfaces of equal area: one at the bottom block's top face, one at its bottom face.
"""

from typing import Literal

import numpy as np
from ase import Atoms
from ase.geometry import get_distances
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from lotf.build.amorphous import DEFAULT_MIN_DISTANCE_FACTOR, is_pair, pair_minimum_table
from lotf.build.files import StructureFile
from lotf.build.spec import StructureSpec
from lotf.errors import UserError

SHIFT_TRIALS = 200  # random lateral shifts tried at each gap
GAP_STEPS = 4  # gaps tried, evenly spaced over the allowed range, smallest first


class InterfaceSpec(StructureSpec):
    """`bottom` and `top` bulks (frame r of each for replica r) stacked into one cell."""

    builder: Literal["interface"]
    bottom: StructureFile
    top: StructureFile
    gap: tuple[NonNegativeFloat, NonNegativeFloat] = Field(
        (1.2, 1.5), description="Å between the blocks' faces: the range searched")
    min_distance: dict[str, PositiveFloat] = Field(
        default_factory=lambda: {"Li-Li": 2.5},
        description=f"Å across the interfaces, by pair ('Li-Li') or 'default'; pairs not named: "
        f"{DEFAULT_MIN_DISTANCE_FACTOR} x the sum of their covalent radii, or 'default'")
    max_strain: PositiveFloat = Field(0.05, description="largest lateral strain put on `top`")
    replicas: PositiveInt = Field(1, le=1000)

    @model_validator(mode="after")
    def _valid(self) -> "InterfaceSpec":
        if self.gap[0] > self.gap[1]:
            raise ValueError(f"gap {list(self.gap)}: give [smallest, largest] in Å")
        for pair in self.min_distance:
            if pair != "default" and not is_pair(pair):
                raise ValueError(f"'{pair}' is not a species pair such as 'Li-Li' (or 'default')")
        return self

    def symbols(self) -> set[str]:
        return self.bottom.symbols() | self.top.symbols()

    def make(self, seed: int) -> list[Atoms]:
        bottoms, tops = self.bottom.read(), self.top.read()
        return [stack(bottoms[r % len(bottoms)], tops[r % len(tops)], self.gap,
                      self.min_distance, self.max_strain, np.random.default_rng([seed, r]))
                for r in range(self.replicas)]


def stack(bottom: Atoms, top: Atoms, gap: tuple[float, float], min_distance: dict[str, float],
          max_strain: float, rng: np.random.Generator) -> Atoms:
    """The stacked cell; atoms.info has the interfaces' heights and area, the gap, the shift and
    the top block's lateral strain, and the array `block` says which bulk each atom came from.
    Raises UserError when the cells do not match or no shift keeps the minimum distances."""
    for name, block in (("bottom", bottom), ("top", top)):
        if not _c_normal(block):
            raise UserError(f"the {name} bulk's c axis is not normal to its a-b plane; "
                            "stack cells whose c is perpendicular to the interface")
    lateral = bottom.cell[:2]
    strain = np.abs(top.cell[:2] - lateral).max() / np.linalg.norm(lateral, axis=1).min()
    if strain > max_strain:
        raise UserError(f"the top bulk's a-b cell differs from the bottom's by {strain:.1%}, more "
                        f"than max_strain {max_strain:.1%}")
    normal = np.cross(*lateral) / np.linalg.norm(np.cross(*lateral))
    heights = bottom.cell.lengths()[2], top.cell.lengths()[2]
    limits = pair_minimum_table(min_distance)
    best = None
    for width in np.linspace(gap[0], gap[1], GAP_STEPS if gap[1] > gap[0] else 1):
        for _ in range(SHIFT_TRIALS):
            shift = rng.random(2)
            atoms = _assemble(bottom, top, lateral, normal, heights, width, shift)
            margin = _closest_margin(atoms, limits)
            if best is None or margin > best[0]:
                best = (margin, atoms, width, shift)
        if best[0] >= 0:
            break
    margin, atoms, width, shift = best
    if margin < 0:
        others = "" if "default" in min_distance else \
            f", other pairs {DEFAULT_MIN_DISTANCE_FACTOR} x their covalent radii"
        raise UserError(f"no lateral shift of the top bulk keeps {min_distance}{others} across "
                        f"the interfaces with a gap of {gap[0]:g}-{gap[1]:g} Å (the best is "
                        f"{-margin:.2f} Å short); widen the gap range")
    atoms.info.update(interface_heights=[float(heights[0] + width / 2),
                                         float(heights[0] + width + heights[1] + width / 2)],
                      interface_area=float(np.linalg.norm(np.cross(*lateral))),
                      gap=float(width), top_shift=[float(x) for x in shift],
                      top_strain=float(strain))
    return atoms


def _c_normal(atoms: Atoms) -> bool:
    a, b, c = atoms.cell
    normal = np.cross(a, b)
    return bool(np.isclose(abs(c @ normal), np.linalg.norm(c) * np.linalg.norm(normal),
                           rtol=1e-6))


def _assemble(bottom, top, lateral, normal, heights, gap, shift) -> Atoms:
    """Both blocks wrapped into their cells, the top one shifted by `shift` (fractions of a, b)
    and placed `gap` above the bottom one, in a cell `gap` taller than both at the top."""
    def placed(block: Atoms, lateral_shift, height, offset):
        scaled = block.get_scaled_positions(wrap=True)
        return (scaled[:, :2] + lateral_shift) @ lateral + np.outer(scaled[:, 2] * height + offset,
                                                                    normal)
    positions = np.vstack([placed(bottom, 0.0, heights[0], 0.0),
                           placed(top, shift, heights[1], heights[0] + gap)])
    cell = np.vstack([lateral, normal * (heights[0] + heights[1] + 2 * gap)])
    atoms = Atoms(numbers=np.concatenate([bottom.numbers, top.numbers]), positions=positions,
                  cell=cell, pbc=True)
    atoms.set_array("block", np.repeat([0, 1], [len(bottom), len(top)]))
    atoms.wrap()
    return atoms


def _closest_margin(atoms: Atoms, limits: np.ndarray) -> float:
    """The smallest (distance - minimum) over every pair across the blocks; negative: too close.
    `limits` is the minimum distance by atomic numbers."""
    block = atoms.get_array("block")
    lower, upper = block == 0, block == 1
    _, distances = get_distances(atoms.positions[lower], atoms.positions[upper],
                                 cell=atoms.cell, pbc=True)
    minimum = limits[np.ix_(atoms.numbers[lower], atoms.numbers[upper])]
    return float((distances - minimum).min())
