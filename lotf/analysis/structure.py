"""Structure of glasses from MD frames: partial RDFs, coordination numbers, anion units, density.

The partial RDF follows LAMMPS's `compute rdf` (and ASE >= 3.27): g_ab(r) = n_ab(r) /
(N_a · N_b/V · shell volume), averaged over frames, each with its own volume (NPT-safe).
Coordination numbers count neighbours directly (the mean number of b around an a), which
equals integrating 4π (N_b/V) g_ab r² dr at fixed volume. The neighbour search
is a cell list, so the cost grows linearly with frames × atoms.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

Pair = tuple[str, str]
SMOOTHING = 0.05  # Å, Gaussian width applied to g(r) before finding its first minimum


@dataclass(frozen=True)
class RDF:
    """Partial RDFs on common bins, and the mean number of b around an a in each bin."""

    edges: np.ndarray
    g: dict[Pair, np.ndarray]
    neighbours: dict[Pair, np.ndarray]
    frames: int

    @property
    def r(self) -> np.ndarray:
        """Bin centres (Å)."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def running_coordination(self, pair: Pair) -> np.ndarray:
        """Mean number of `pair[1]` within each bin's upper edge of a `pair[0]`."""
        return np.cumsum(self.neighbours[pair])

    def coordination(self, pair: Pair, cutoff: float | None = None) -> float:
        """Mean coordination of `pair[0]` by `pair[1]` up to `cutoff` (default: the first
        minimum), counting the whole bins below it."""
        cutoff = self.first_minimum(pair) if cutoff is None else cutoff
        edge = int(np.searchsorted(self.edges[1:], cutoff, side="right"))
        return float(self.running_coordination(pair)[edge - 1]) if edge else 0.0

    def first_minimum(self, pair: Pair) -> float:
        """The distance of the first minimum after the first peak (mid-plateau if g is flat).

        g is smoothed by a Gaussian of SMOOTHING Å; the first peak is the first local maximum
        above half of g's highest value; the minimum is the first one after g has fallen below
        half of that peak, so noise on the peak's flank is passed over.
        """
        width = SMOOTHING / (self.edges[1] - self.edges[0])
        reach = max(1, int(3 * width))
        kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / max(width, 1e-9)) ** 2)
        g = np.convolve(self.g[pair], kernel / kernel.sum(), mode="same")
        if not g.any():
            raise ValueError(f"no {pair[0]}-{pair[1]} pairs within {self.edges[-1]:g} Å")
        high = np.flatnonzero(g >= 0.5 * g.max())[0]
        falling = np.flatnonzero(np.diff(g[high:]) < 0)
        peak = high + int(falling[0]) if len(falling) else len(g) - 1
        low = np.flatnonzero(g[peak:] < 0.5 * g[peak])
        rising = np.flatnonzero(np.diff(g[peak + low[0]:]) > 0) if len(low) else []
        if not len(rising):
            raise ValueError(f"the {pair[0]}-{pair[1]} RDF has no minimum within "
                             f"{self.edges[-1]:g} Å; give a larger rdf_max or a bond cutoff")
        bottom = peak + int(low[0]) + int(rising[0])
        start = bottom
        while start > peak and g[start - 1] <= g[bottom] + 1e-12:  # the left end of a flat bottom
            start -= 1
        return float(self.r[(start + bottom) // 2])

    def as_dict(self) -> dict:
        """For results.json: bin centres and every partial g(r)."""
        return {"r_angstrom": self.r.round(4).tolist(), "frames": self.frames,
                "g": {f"{a}-{b}": g.round(5).tolist() for (a, b), g in self.g.items()}}


def partial_rdfs(frames: Iterable[Atoms], r_max: float = 6.0, bins: int = 300,
                 pairs: list[Pair] | None = None) -> RDF:
    """Frame-averaged partial RDFs of `pairs` (default: every pair of species, both orders)."""
    edges = np.linspace(0.0, r_max, bins + 1)
    shells = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    total: dict[Pair, np.ndarray] = {}
    neighbours: dict[Pair, np.ndarray] = {}
    count = 0
    for atoms in frames:
        symbols = np.array(atoms.get_chemical_symbols())
        species = sorted(set(symbols))
        wanted = pairs or [(a, b) for a in species for b in species]
        code = {s: k for k, s in enumerate(species)}
        kinds = np.array([code[s] for s in symbols])
        first, second, distance = neighbor_list("ijd", atoms, r_max)
        keep = distance < r_max
        which = kinds[first[keep]] * len(species) + kinds[second[keep]]
        bin_of = np.minimum((distance[keep] / r_max * bins).astype(int), bins - 1)
        histogram = np.bincount(which * bins + bin_of, minlength=len(species) ** 2 * bins)
        histogram = histogram.reshape(len(species), len(species), bins)
        volume = atoms.get_volume()
        numbers = {s: int(np.sum(symbols == s)) for s in species}
        for a, b in wanted:
            if a not in code or b not in code:
                raise ValueError(f"pair {a}-{b}: the frames have no {a if a not in code else b}")
            per_atom = histogram[code[a], code[b]] / numbers[a]
            neighbours[(a, b)] = neighbours.get((a, b), 0.0) + per_atom
            total[(a, b)] = total.get((a, b), 0.0) + per_atom * volume / (numbers[b] * shells)
        count += 1
    if not count:
        raise ValueError("no frames to compute an RDF from")
    return RDF(edges, {pair: g / count for pair, g in total.items()},
               {pair: n / count for pair, n in neighbours.items()}, count)


def coordination_numbers(atoms: Atoms, centre: str, ligand: str, cutoff: float) -> np.ndarray:
    """For each `centre` atom (in index order), the number of `ligand` atoms within `cutoff`."""
    symbols = np.array(atoms.get_chemical_symbols())
    first, second = neighbor_list("ij", atoms, cutoff)
    bonded = (symbols[first] == centre) & (symbols[second] == ligand)
    counts = np.bincount(first[bonded], minlength=len(atoms))
    return counts[symbols == centre]


def coordination_fractions(frames: Iterable[Atoms], centre: str, ligand: str,
                           cutoff: float) -> dict[int, float]:
    """Fraction of `centre` atoms with each coordination by `ligand` (e.g. B: {3: 0.74, 4: 0.26})."""
    counts = np.concatenate([coordination_numbers(a, centre, ligand, cutoff) for a in frames])
    values, occurrences = np.unique(counts, return_counts=True)
    return {int(v): float(n / len(counts)) for v, n in zip(values, occurrences, strict=True)}


def isolated_unit_fraction(frames: Iterable[Atoms], centre: str, ligand: str, size: int,
                           cutoff: float) -> float:
    """Fraction of `centre` atoms forming an isolated unit: exactly `size` ligands, none of them
    bonded to another centre (an intact PS4 tetrahedron; P2S7 dimers and chains are not)."""
    intact = total = 0
    for atoms in frames:
        symbols = np.array(atoms.get_chemical_symbols())
        first, second = neighbor_list("ij", atoms, cutoff)
        bond = (symbols[first] == centre) & (symbols[second] == ligand)
        centres, ligands = first[bond], second[bond]
        owners = np.bincount(ligands, minlength=len(atoms))  # centres each ligand is bonded to
        degree = np.bincount(centres, minlength=len(atoms))
        shared = np.bincount(centres, weights=owners[ligands] > 1, minlength=len(atoms))
        mine = symbols == centre
        intact += int(np.sum(mine & (degree == size) & (shared == 0)))
        total += int(np.sum(mine))
    if not total:
        raise ValueError(f"the frames have no {centre}")
    return intact / total
