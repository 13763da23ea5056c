"""Corner-sharing networks of polyhedra, as in a borate glass: BO3 triangles and BO4 tetrahedra
whose ligands bridge two units (Li3B11O18: 32 BO3 + 12 BO4 share 72 O, every one bridging).

Centres go in at random; their ligand slots are paired into bridges between near centres (a
swap repairs what a greedy pairing leaves over); one ligand sits on each bridge and the rest end
their unit; then springs on every bond and on the ligand–ligand edges of each unit, with a soft
repulsion between everything else, relax the network to the units' shapes."""

from itertools import combinations

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from scipy.optimize import minimize

from lotf.build.placement import INFLATE, close_pairs, insert
from lotf.build.units import bond_geometry, polyhedron

BRIDGE_REACH = 4.5  # Å between two centres the first pairing considers bridging
NONBONDED_FACTOR = 1.4  # a ligand not bonded to a centre stays this × its bond length away
CENTRE_FACTOR = 1.5  # two centres stay this × the shorter bond apart (B–O–B wider than ~97°)
LIGAND_FACTOR = 0.85  # ligands of different units stay this × the shorter unit edge apart
BOND_TOLERANCE = 0.05  # relative: a relaxed bond off by more fails the build
EDGE_TOLERANCE = 0.15  # relative, for a unit's ligand–ligand edges
SPRING_WEIGHTS = np.array([10.0, 3.0])  # bonds, edges
FLOOR_WEIGHTS = (1.0, 10.0, 100.0)  # the minimum distances, harder in each relaxation
REPAIRS = 4  # shakes of the atoms still at fault before the start is given up
SHAKE = 0.5  # Å


def ligand_slots(units: list[str]) -> int:
    """How many ligands the units hold if none is shared."""
    return sum(polyhedron(name)[2] for name in units)


def build_network(units: list[str], ligands: int, lengths: np.ndarray, limits: np.ndarray,
                  rng: np.random.Generator) -> Atoms | None:
    """The units joined by `ligands` shared ligand atoms (each bonded to one or two centres) in
    the box, tags numbering the units from 1 (a bridging ligand carries one of its two); None if
    this random start does not relax to intact units keeping the minimum distances."""
    bond, edge = np.array([bond_geometry(name) for name in units]).T
    slots = np.array([polyhedron(name)[2] for name in units])
    centre_numbers = np.array([atomic_numbers[polyhedron(name)[0]] for name in units])
    ligand_number = atomic_numbers[polyhedron(units[0])[1]]
    spacing = CENTRE_FACTOR * bond.min()
    centres = _place_centres(centre_numbers, lengths, 1.1 * spacing, rng)
    if centres is None:
        return None
    bridges = _pair_slots(centres, _bridges_per_unit(slots, ligands, rng), lengths, rng)
    if bridges is None:
        return None
    owners = [list(pair) for pair in bridges]  # the centres each ligand is bonded to
    for unit, free in enumerate(slots - np.bincount(np.ravel(bridges), minlength=len(units))):
        owners += [[unit]] * int(free)
    positions = np.vstack([centres, _ligand_start(centres, owners, bond, lengths, rng)])
    numbers = np.concatenate([centre_numbers, np.full(len(owners), ligand_number)])
    springs, floor = _springs_and_floor(owners, bond, edge, numbers, limits)
    for floor_weight in FLOOR_WEIGHTS:  # the units take shape first, then make room
        positions = _relax(positions, springs, floor, lengths, floor_weight)
        if _intact(positions, springs, floor, lengths):
            break
    else:
        for _ in range(REPAIRS):  # shake the atoms of what is still wrong, relax again
            wrong = _faults(positions, springs, floor, lengths)
            positions[wrong] += rng.normal(0.0, SHAKE, (len(wrong), 3))
            positions = _relax(positions, springs, floor, lengths, FLOOR_WEIGHTS[-1])
            if _intact(positions, springs, floor, lengths):
                break
        else:
            return None
    tags = np.concatenate([np.arange(1, len(units) + 1), [o[0] + 1 for o in owners]])
    atoms = Atoms(numbers=numbers, positions=positions, cell=lengths, pbc=True, tags=tags)
    atoms.wrap()
    return atoms


def _place_centres(numbers, lengths, spacing, rng) -> np.ndarray | None:
    placed = np.empty((0, 3))
    table = np.full((numbers.max() + 1,) * 2, spacing)
    for index in range(len(numbers)):
        position, ok = insert(np.zeros((1, 3)), numbers[index:index + 1], placed,
                              numbers[:index], lengths, table, rng)
        if not ok:
            return None
        placed = np.vstack([placed, position])
    return placed


def _bridges_per_unit(slots: np.ndarray, ligands: int, rng) -> np.ndarray:
    """How many of each unit's slots bridge: 2 × ligands − Σ slots of them, at random, end
    their unit instead."""
    ends = 2 * ligands - slots.sum()
    owner = np.repeat(np.arange(len(slots)), slots)
    chosen = rng.choice(len(owner), size=ends, replace=False)
    return slots - np.bincount(owner[chosen], minlength=len(slots))


def _separation(centres, lengths, a, b) -> float:
    delta = centres[a] - centres[b]
    return float(np.linalg.norm(delta - lengths * np.round(delta / lengths)))


def _pair_slots(centres, demand, lengths, rng) -> list[tuple[int, int]] | None:
    """Bridges (pairs of distinct centres, none twice) giving each centre its demand: greedily
    the nearest pairs (with jitter), then swaps for the leftovers. None if it cannot close."""
    pairs, delta = close_pairs(centres, lengths, BRIDGE_REACH)
    order = np.argsort(np.linalg.norm(delta, axis=1) + rng.normal(0.0, 0.2, len(pairs)))
    left, bridges = demand.copy(), set()
    for a, b in pairs[order]:
        if left[a] > 0 and left[b] > 0:
            bridges.add((min(a, b), max(a, b)))
            left[a] -= 1
            left[b] -= 1
    for _ in range(10 * len(centres)):
        needing = np.flatnonzero(left)
        if len(needing) == 0:
            return sorted((int(a), int(b)) for a, b in bridges)
        u = needing[0]
        others = [v for v in needing[1:] if (min(u, v), max(u, v)) not in bridges]
        if others:
            v = min(others, key=lambda w: _separation(centres, lengths, u, w))
            if _separation(centres, lengths, u, v) < BRIDGE_REACH:
                bridges.add((min(u, v), max(u, v)))
                left[u] -= 1
                left[v] -= 1
                continue
        elif left[u] < 2:
            return None
        else:
            v = u
        swap = _best_swap(centres, lengths, bridges, u, v)
        if swap is None:
            return None
        a, b = swap
        bridges.discard((min(a, b), max(a, b)))
        bridges |= {(min(u, a), max(u, a)), (min(v, b), max(v, b))}
        left[u] -= 1
        left[v] -= 1
    return None


def _best_swap(centres, lengths, bridges, u, v) -> tuple[int, int] | None:
    """The bridge (a, b) to replace by (u, a) and (v, b) that keeps the new bridges shortest."""
    best, cost = None, np.inf
    for pair in bridges:
        for a, b in (pair, pair[::-1]):
            if {a, b} & {u, v} or (min(u, a), max(u, a)) in bridges \
                    or (min(v, b), max(v, b)) in bridges:
                continue
            total = _separation(centres, lengths, u, a) + _separation(centres, lengths, v, b)
            if total < cost:
                best, cost = (a, b), total
    return best


def _ligand_start(centres, owners, bond, lengths, rng) -> np.ndarray:
    """Bridging ligands midway between their centres, pushed off the line; ending ones one
    bond length from their centre in a random direction."""
    start = []
    for owner in owners:
        kick = rng.normal(size=3)
        if len(owner) == 2:
            a, b = owner
            delta = centres[b] - centres[a]
            delta -= lengths * np.round(delta / lengths)
            start.append(centres[a] + delta / 2 + 0.3 * kick / np.linalg.norm(kick))
        else:
            start.append(centres[owner[0]] + bond[owner[0]] * kick / np.linalg.norm(kick))
    return np.array(start)


def _springs_and_floor(owners, bond, edge, numbers, limits):
    """Springs (i, j, length, kind) for every centre–ligand bond (kind 0) and every ligand–ligand
    edge of a unit (kind 1), and the minimum distance of every other pair (0 for sprung ones)."""
    n_centres = len(bond)
    members = [[] for _ in range(n_centres)]
    springs = []
    for ligand, owner in enumerate(owners, start=n_centres):
        for unit in owner:
            springs.append((unit, ligand, bond[unit], 0))
            members[unit].append(ligand)
    for unit, ligands in enumerate(members):
        springs += [(i, j, edge[unit], 1) for i, j in combinations(ligands, 2)]
    floor = limits[numbers][:, numbers].copy()
    is_centre = np.arange(len(numbers)) < n_centres
    scale = np.concatenate([bond, np.zeros(len(owners))])
    centre_ligand = NONBONDED_FACTOR * np.maximum(scale[:, None], scale[None, :])
    mixed = is_centre[:, None] != is_centre[None, :]
    floor[mixed] = np.maximum(floor[mixed], centre_ligand[mixed])
    both = is_centre[:, None] & is_centre[None, :]
    shorter = CENTRE_FACTOR * np.minimum(scale[:, None], scale[None, :])
    floor[both] = np.maximum(floor[both], shorter[both])
    ligand = ~is_centre[:, None] & ~is_centre[None, :]
    floor[ligand] = np.maximum(floor[ligand], LIGAND_FACTOR * edge.min())
    springs = np.array(springs)
    i, j = springs[:, 0].astype(int), springs[:, 1].astype(int)
    floor[i, j] = floor[j, i] = 0.0
    np.fill_diagonal(floor, 0.0)
    return springs, floor


def _terms(positions, springs, floor, lengths, factor):
    """The sprung pairs and the other pairs closer than `factor` × their floor: indices,
    separation vectors and target lengths (a spring pulls and pushes, a floor only pushes)."""
    i, j = springs[:, 0].astype(int), springs[:, 1].astype(int)
    delta = positions[i] - positions[j]
    delta -= lengths * np.round(delta / lengths)
    pairs, close = close_pairs(positions, lengths, factor * floor.max())
    a, b = pairs.T if len(pairs) else (np.empty(0, int), np.empty(0, int))
    near = np.linalg.norm(close, axis=1) < factor * floor[a, b]
    return (np.concatenate([i, a[near]]), np.concatenate([j, b[near]]),
            np.vstack([delta, close[near]]),
            np.concatenate([springs[:, 2], factor * floor[a[near], b[near]]]))


def _relax(positions, springs, floor, lengths, floor_weight: float) -> np.ndarray:
    def loss(flat):
        x = flat.reshape(-1, 3)
        i, j, delta, target = _terms(x, springs, floor, lengths, INFLATE)
        distance = np.maximum(np.linalg.norm(delta, axis=1), 1e-9)
        gap = distance - target
        weight = np.full_like(gap, floor_weight)
        weight[:len(springs)] = SPRING_WEIGHTS[springs[:, 3].astype(int)]
        grad = np.zeros_like(x)
        pull = (2.0 * weight * gap / distance)[:, None] * delta
        np.add.at(grad, i, pull)
        np.add.at(grad, j, -pull)
        return float(weight @ gap**2), grad.ravel()

    result = minimize(loss, positions.ravel(), jac=True, method="L-BFGS-B",
                      options={"maxiter": 3000, "gtol": 1e-10, "ftol": 1e-14})
    return result.x.reshape(-1, 3)


def _intact(positions, springs, floor, lengths) -> bool:
    """Every bond within BOND_TOLERANCE, every edge within EDGE_TOLERANCE, no other pair closer
    than its floor."""
    return len(_faults(positions, springs, floor, lengths)) == 0


def _faults(positions, springs, floor, lengths) -> np.ndarray:
    """The atoms of a bond off by more than BOND_TOLERANCE, an edge off by more than
    EDGE_TOLERANCE, or another pair closer than its floor."""
    i, j = springs[:, 0].astype(int), springs[:, 1].astype(int)
    delta = positions[i] - positions[j]
    distance = np.linalg.norm(delta - lengths * np.round(delta / lengths), axis=1)
    tolerance = np.where(springs[:, 3] == 0, BOND_TOLERANCE, EDGE_TOLERANCE)
    off = np.abs(distance / springs[:, 2] - 1.0) > tolerance
    pairs, close = close_pairs(positions, lengths, floor.max())
    a, b = pairs.T if len(pairs) else (np.empty(0, int), np.empty(0, int))
    near = np.linalg.norm(close, axis=1) < floor[a, b]
    return np.unique(np.concatenate([i[off], j[off], a[near], b[near]]))
