"""Per-atom derivatives of MTP site energies with respect to all parameters, for the grade.

The extrapolation grade linearises the potential in every parameter it was fitted in (MLIP's
convention): moment, species and radial coefficients. Only moment coefficients enter the site
energy linearly; the radial ones are reached by one reverse pass through the moment
contractions. Done for all atoms at once, with the contractions grouped into a few waves of
independent products, it costs about one force call; motep's training mode (which also builds
force derivatives) costs 25-35.

Conventions are MLIP's: unit-vector monomials, Chebyshev radial basis on [min_dist, max_dist]
times scaling * (max_dist - r)**2, coefficients indexed [centre type, neighbour type, mu, beta].
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Wave:
    """Contractions whose factors are all known before it: target += multiplicity * a * b."""

    first: np.ndarray
    second: np.ndarray
    multiplicity: np.ndarray
    scatter: np.ndarray  # (moments, contractions) one-hot of each contraction's target


class SiteEnergyJacobian:
    """Evaluates d(site energy)/d(parameters) for an MTP (motep's MTPData, read at each call).

    Columns: moment coefficients, species coefficients, radial coefficients in C order of
    [centre type, neighbour type, mu, beta] (motep's and MLIP's parameter order).
    """

    def __init__(self, data):
        self.data = data
        basic = np.asarray(data.alpha_index_basic)
        self._mu, self._powers = basic[:, 0], basic[:, 1:]
        self._mu_onehot = (self._mu == np.arange(data.radial_funcs_count)[:, None]).astype(float)
        self._waves = _waves(np.asarray(data.alpha_index_times), data.alpha_moments_count)

    def __call__(self, itypes: np.ndarray, neighbours: np.ndarray,
                 vectors: np.ndarray) -> np.ndarray:
        """The (atoms, parameters) Jacobian of the site energies.

        `neighbours` (atoms, slots) holds neighbour indices padded with -1, `vectors`
        (atoms, slots, 3) the vectors to them (padding anywhere beyond the cutoff).
        """
        data, natoms, species = self.data, len(itypes), self.data.species_count
        valid = neighbours >= 0
        jtypes = np.where(valid, itypes[neighbours], 0)
        distances = np.linalg.norm(vectors, axis=-1)
        radial = _radial_basis(data, distances)  # (beta, atoms, slots)
        units = vectors / np.where(distances > 0, distances, 1.0)[..., None]
        monomials = self._monomials(units)  # (basic, atoms, slots)

        coefficients = data.radial_coeffs[itypes[:, None], jtypes]  # (atoms, slots, mu, beta)
        functions = np.einsum("nkmb,bnk->mnk", coefficients, radial)
        moments = np.zeros((data.alpha_moments_count, natoms))
        moments[: len(self._mu)] = np.einsum("knj,knj->kn", functions[self._mu], monomials)
        for wave in self._waves:
            moments += wave.scatter @ (wave.multiplicity[:, None] * moments[wave.first]
                                       * moments[wave.second])
        basis = moments[data.alpha_moment_mapping].T

        adjoint = np.zeros_like(moments)  # d(site energy)/d(moment)
        adjoint[data.alpha_moment_mapping] = data.moment_coeffs[:, None]
        for wave in reversed(self._waves):
            target = wave.multiplicity[:, None] * (wave.scatter.T @ adjoint)
            np.add.at(adjoint, wave.first, target * moments[wave.second])
            np.add.at(adjoint, wave.second, target * moments[wave.first])
        per_mu = np.einsum("mk,kn,knj->mnj", self._mu_onehot, adjoint[: len(self._mu)], monomials)
        onehot = (jtypes[..., None] == np.arange(species)) & valid[..., None]
        by_neighbour_type = np.einsum("nkt,mnk,bnk->ntmb", onehot, per_mu, radial)
        radial_jacobian = np.zeros((natoms, species, *by_neighbour_type.shape[1:]))
        radial_jacobian[np.arange(natoms), itypes] = by_neighbour_type

        species_jacobian = (itypes[:, None] == np.arange(species)).astype(float)
        return np.hstack([basis, species_jacobian, radial_jacobian.reshape(natoms, -1)])

    def _monomials(self, units: np.ndarray) -> np.ndarray:
        """x^a y^b z^c of the unit vectors for each basic moment: (basic, atoms, slots)."""
        table = np.ones((self._powers.max() + 1, *units.shape))
        for power in range(1, len(table)):
            table[power] = table[power - 1] * units
        x, y, z = self._powers.T
        return table[x, ..., 0] * table[y, ..., 1] * table[z, ..., 2]


def _waves(times: np.ndarray, moments: int) -> list[_Wave]:
    """Group contractions by the depth of their target, so each group is one vector operation."""
    depth = np.zeros(moments, dtype=int)
    for first, second, _, target in times:
        depth[target] = max(depth[target], max(depth[first], depth[second]) + 1)
    waves = []
    for level in range(1, depth.max() + 1 if len(times) else 1):
        chosen = times[depth[times[:, 3]] == level]
        scatter = np.zeros((moments, len(chosen)))
        scatter[chosen[:, 3], np.arange(len(chosen))] = 1.0
        waves.append(_Wave(chosen[:, 0], chosen[:, 1], chosen[:, 2].astype(float), scatter))
    return waves


def _radial_basis(data, distances: np.ndarray) -> np.ndarray:
    """Chebyshev polynomials on [min, max] times the smoothing scaling * (max - r)**2."""
    low, high, size = data.radial_basis.min, data.radial_basis.max, data.radial_basis.size
    scaled = (2.0 * distances - (low + high)) / (high - low)
    values = np.empty((size, *distances.shape))
    values[0] = 1.0
    if size > 1:
        values[1] = scaled
    for order in range(2, size):
        values[order] = 2.0 * scaled * values[order - 1] - values[order - 2]
    smooth = np.where(distances < high, data.scaling * (high - distances) ** 2, 0.0)
    return values * smooth
