"""Bond-valence sums and the Global Instability Index (GII), a measure of how far a structure's
bonding is from its formal valences (stable crystals: GII <= 0.2 v.u.).

Bond valence s = exp((R0 - r) / b) with b = 0.37 Å and R0 for any cation-anion pair from the
atom parameters (r, c) of O'Keeffe & Brese, J. Am. Chem. Soc. 113, 3226 (1991), as pymatgen
ships them: R0 = r_i + r_j - r_i r_j (√c_i - √c_j)² / (c_i r_i + c_j r_j). Bonds are the
cation-anion pairs within R0 + 3b (s >= 0.05 v.u.). GII = sqrt(mean_i (|BVS_i| - |V_i|)²)
over all atoms (Salinas-Sanchez et al., J. Solid State Chem. 100, 201, 1992).
"""

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

B = 0.37  # Å, the universal bond-valence softness
REACH = 3.0  # bonds up to R0 + REACH * B


def bond_valence_r0(cation: str, anion: str) -> float:
    """R0 (Å) of a cation-anion pair from O'Keeffe & Brese's atom parameters."""
    from pymatgen.analysis.bond_valence import BV_PARAMS
    from pymatgen.core import Element

    try:
        (r1, c1), (r2, c2) = [[BV_PARAMS[Element(s)][k] for k in ("r", "c")]
                              for s in (cation, anion)]
    except KeyError as missing:
        raise ValueError(f"no bond-valence parameters for {missing}") from None
    return r1 + r2 - r1 * r2 * (np.sqrt(c1) - np.sqrt(c2)) ** 2 / (c1 * r1 + c2 * r2)


def formal_valences(atoms: Atoms) -> dict[str, int]:
    """The most likely oxidation states of the composition (pymatgen's guess), by element."""
    from pymatgen.core import Composition

    guesses = Composition(atoms.get_chemical_formula()).oxi_state_guesses(max_sites=-1)
    if not guesses:
        raise ValueError(f"no charge-balanced oxidation states for {atoms.get_chemical_formula()};"
                         " give them (e.g. {Li: 1, P: 5, S: -2})")
    return {element: round(value) for element, value in guesses[0].items()}


def bond_valence_sums(atoms: Atoms, valences: dict[str, int]) -> np.ndarray:
    """Each atom's bond-valence sum (v.u., positive) over its cation-anion bonds."""
    symbols = atoms.get_chemical_symbols()
    species = sorted(set(symbols))
    missing = [s for s in species if s not in valences]
    if missing:
        raise ValueError(f"no formal valence given for {', '.join(missing)}")
    kinds = np.array([species.index(s) for s in symbols])
    r0 = np.full((len(species), len(species)), np.nan)  # NaN: not a cation-anion pair
    for i, a in enumerate(species):
        for j, b in enumerate(species):
            if valences[a] > 0 > valences[b]:
                r0[i, j] = r0[j, i] = bond_valence_r0(a, b)
    if np.isnan(r0).all():
        raise ValueError("the structure has no cation-anion pair to form bonds")
    first, second, distance = neighbor_list("ijd", atoms, np.nanmax(r0) + REACH * B)
    pair_r0 = r0[kinds[first], kinds[second]]
    bond = distance < pair_r0 + REACH * B  # False for NaN (same-sign pairs)
    valence = np.exp((pair_r0[bond] - distance[bond]) / B)
    return np.bincount(first[bond], weights=valence, minlength=len(atoms))


def global_instability_index(atoms: Atoms, valences: dict[str, int]) -> float:
    """GII (v.u.): root mean square deviation of bond-valence sums from formal valences."""
    formal = np.abs([valences[s] for s in atoms.get_chemical_symbols()])
    return float(np.sqrt(np.mean((bond_valence_sums(atoms, valences) - formal) ** 2)))
