"""The MTP basis of a level, generated: every scalar contraction MLIP-2 keeps, as an .mtp basis.

A moment tensor M_{mu,nu} = sum_j f_mu(r_j) u_j^(x nu) has level 2 + 4 mu + nu. A scalar basis
function is a product of at most four moment tensors whose indices are all contracted between
different factors: a multigraph on the factors (an edge per contracted index pair, no loops),
counted once up to isomorphism, with total level at most the MTP's. That rule gives MLIP-2's
counts at every level (1, 2, 5, 9, 16, 29, 52, 92, 163, 288 for levels 2-20) and the same
functions as MLIP's files. Each contraction is written out as a sum of products of tensor
components (x^a y^b z^c monomials of the unit vectors) with integer multiplicities, the
products built pairwise through shared intermediate moments.
"""

import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np

from lotf.potential.mtp_file import MTPFile

MAX_FACTORS = 4

Tensor = tuple[int, int]  # (mu, nu)


def tensor_level(tensor: Tensor) -> int:
    return 2 + 4 * tensor[0] + tensor[1]


@dataclass(frozen=True)
class Contraction:
    """A scalar: factors (sorted) and, for each pair i < j of factors, contracted indices."""

    factors: tuple[Tensor, ...]
    edges: tuple[int, ...]  # over itertools.combinations(range(len(factors)), 2)

    @property
    def level(self) -> int:
        return sum(tensor_level(t) for t in self.factors)


def contractions(level: int) -> list[Contraction]:
    """Every scalar contraction of at most MAX_FACTORS moment tensors up to `level`."""
    tensors = sorted((mu, nu) for mu in range(level) for nu in range(level)
                     if tensor_level((mu, nu)) <= level)
    found = []
    for count in range(1, MAX_FACTORS + 1):
        for factors in itertools.combinations_with_replacement(tensors, count):
            if sum(map(tensor_level, factors)) > level or sum(t[1] for t in factors) % 2:
                continue
            seen = set()
            for edges in _edge_counts([t[1] for t in factors]):
                key = _canonical(factors, edges)
                if key not in seen:
                    seen.add(key)
                    found.append(Contraction(factors, key))
    return sorted(found, key=lambda c: (c.level, len(c.factors), c.factors, c.edges))


def _edge_counts(degrees: list[int]):
    """Every way to pair up the factors' indices between different factors."""
    pairs = list(itertools.combinations(range(len(degrees)), 2))

    def extend(k: int, remaining: list[int], counts: list[int]):
        if k == len(pairs):
            if not any(remaining):
                yield tuple(counts)
            return
        i, j = pairs[k]
        for c in range(min(remaining[i], remaining[j]) + 1):
            remaining[i] -= c
            remaining[j] -= c
            yield from extend(k + 1, remaining, [*counts, c])
            remaining[i] += c
            remaining[j] += c

    yield from extend(0, list(degrees), [])


def _canonical(factors: tuple[Tensor, ...], edges: tuple[int, ...]) -> tuple[int, ...]:
    """The smallest edge tuple over relabellings that keep each factor's tensor."""
    n = len(factors)
    pairs = list(itertools.combinations(range(n), 2))
    count = {}
    for (i, j), c in zip(pairs, edges, strict=True):
        count[i, j] = count[j, i] = c
    keys = (tuple(count[p[i], p[j]] for i, j in pairs) for p in itertools.permutations(range(n))
            if all(factors[p[k]] == factors[k] for k in range(n)))
    return min(keys)


def _components(nu: int) -> list[tuple[int, int, int]]:
    """The monomials x^a y^b z^c with a + b + c = nu, in MLIP's order."""
    return [(a, b, nu - a - b) for a in range(nu, -1, -1) for b in range(nu - a, -1, -1)]


def _expand(contraction: Contraction, basic_index: dict) -> Counter:
    """The contraction as a sum of products of basic moments: {sorted factor indices: weight}."""
    units = [pair for pair, c in zip(itertools.combinations(range(len(contraction.factors)), 2),
                                     contraction.edges, strict=True) for _ in range(c)]
    terms = Counter()
    for axes in itertools.product(range(3), repeat=len(units)):
        powers = [[0, 0, 0] for _ in contraction.factors]
        for (i, j), axis in zip(units, axes, strict=True):
            powers[i][axis] += 1
            powers[j][axis] += 1
        key = tuple(sorted(basic_index[(mu, *p)] for (mu, _), p in
                           zip(contraction.factors, powers, strict=True)))
        terms[key] += 1
    return terms


def generate(level: int, species_count: int = 1, min_dist: float = 0.5, max_dist: float = 5.0,
             radial_basis_size: int = 8) -> MTPFile:
    """The untrained MTP of `level` (no coefficients), in MLIP's .mtp layout."""
    if level < 2 or level % 2:
        raise ValueError(f"MTP levels are even numbers from 2, not {level}")
    scalars = contractions(level)
    tensors = sorted({t for c in scalars for t in c.factors})
    basic = [(mu, *powers) for mu, nu in tensors for powers in _components(nu)]
    basic_index = {b: k for k, b in enumerate(basic)}
    moments = len(basic)
    times: list[tuple[int, int, int, int]] = []
    products: dict[tuple[int, ...], int] = {}  # partial products already built

    def product(factors: tuple[int, ...]) -> int:
        nonlocal moments
        if len(factors) == 1:
            return factors[0]
        if factors not in products:
            first = product(factors[:-1])
            times.append((first, factors[-1], 1, moments))
            products[factors] = moments
            moments += 1
        return products[factors]

    mapping = []
    for contraction in scalars:
        terms = _expand(contraction, basic_index)
        if len(contraction.factors) == 1:
            mapping.append(next(iter(terms))[0])
            continue
        rows = [(product(factors[:-1]), factors[-1], weight) for factors, weight in
                sorted(terms.items())]
        target = moments
        moments += 1
        times += [(first, last, weight, target) for first, last, weight in rows]
        mapping.append(target)
    return MTPFile(species_count=species_count, min_dist=min_dist, max_dist=max_dist,
                   radial_basis_size=radial_basis_size,
                   radial_funcs_count=max(mu for mu, _ in tensors) + 1,
                   alpha_moments_count=moments, alpha_index_basic=np.array(basic, dtype=int),
                   alpha_index_times=np.array(times, dtype=int).reshape(-1, 4),
                   alpha_moment_mapping=np.array(mapping, dtype=int))
