"""MLIP's .mtp files: the level's moment contractions and, once trained, the coefficients.

Read and written here so the native backend needs no other MTP package; files written load in
MLIP-2 and motep (MLIP does not store the species: the caller names them).
"""

import re
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

LEVELS = tuple(range(2, 22, 2))


@contextmanager
def level_file(level: int):
    """The path of the untrained MTP of a level (MLIP's file, shipped in lotf/potential/levels)."""
    if level not in LEVELS:
        raise ValueError(f"MTP level {level} is not available (levels: {LEVELS})")
    with resources.as_file(resources.files("lotf.potential") / "levels" / f"level{level:02d}.mtp") as path:
        yield path


@dataclass
class MTPFile:
    """An MTP as an .mtp file holds it; coefficients are None until trained."""

    species_count: int
    min_dist: float
    max_dist: float
    radial_basis_size: int
    radial_funcs_count: int
    alpha_moments_count: int
    alpha_index_basic: np.ndarray  # (basic, 4): mu, powers of x, y, z
    alpha_index_times: np.ndarray  # (contractions, 4): first, second, multiplicity, target
    alpha_moment_mapping: np.ndarray  # scalar moment -> moment
    scaling: float = 1.0
    species_coeffs: np.ndarray | None = None
    moment_coeffs: np.ndarray | None = None
    radial_coeffs: np.ndarray | None = None  # (species, species, mu, beta)
    potential_name: str = "MTP1m"

    @property
    def parameter_count(self) -> int:
        return (len(self.alpha_moment_mapping) + self.species_count
                + self.species_count**2 * self.radial_funcs_count * self.radial_basis_size)

    def parameters(self) -> np.ndarray:
        """Moment, species, then radial coefficients: lotf's basis columns (MLIP's own
        coefficient order is radial, species, moment: `MTPPotential.grade_order`)."""
        return np.concatenate([self.moment_coeffs, self.species_coeffs,
                               np.ravel(self.radial_coeffs)]).astype(float)

    def with_parameters(self, parameters: np.ndarray) -> "MTPFile":
        """A copy holding `parameters` (in the order of `parameters()`)."""
        parameters = np.asarray(parameters, dtype=float)
        if parameters.shape != (self.parameter_count,):
            raise ValueError(f"{parameters.shape} parameters given, {self.parameter_count} expected")
        moments, species = len(self.alpha_moment_mapping), self.species_count
        shape = (species, species, self.radial_funcs_count, self.radial_basis_size)
        return replace(self, moment_coeffs=parameters[:moments].copy(),
                       species_coeffs=parameters[moments:moments + species].copy(),
                       radial_coeffs=parameters[moments + species:].reshape(shape).copy())


_SCALARS = {"species_count": int, "min_dist": float, "max_dist": float, "radial_basis_size": int,
            "radial_funcs_count": int, "alpha_moments_count": int, "scaling": float,
            "potential_name": str}
_ARRAYS = {"alpha_index_basic": 4, "alpha_index_times": 4, "alpha_moment_mapping": 0,
           "species_coeffs": 0, "moment_coeffs": 0}


def read_mtp(path: str | Path) -> MTPFile:
    """An .mtp file (MLIP-2 format, trained or not); ValueError names the file and key."""
    path = Path(path)
    values: dict = {}
    lines = path.read_text().splitlines()
    if not lines or lines[0].strip() != "MTP":
        raise ValueError(f"{path}: not an MLIP .mtp file (first line must be 'MTP')")
    row = 1
    while row < len(lines):
        line = lines[row].strip()
        row += 1
        if line == "radial_coeffs":
            values["radial_coeffs"], row = _radial_block(path, lines, row, values)
            continue
        key, _, text = (part.strip() for part in line.partition("="))
        try:
            if key in _SCALARS:
                values[key] = _SCALARS[key](text)
            elif key in _ARRAYS:
                numbers = [float(x) for x in re.findall(r"[-+0-9.eE]+", text)]
                array = np.array(numbers)
                if _ARRAYS[key]:
                    array = array.reshape(-1, _ARRAYS[key]).astype(int)
                elif key == "alpha_moment_mapping":
                    array = array.astype(int)
                values[key] = array
        except ValueError as error:
            raise ValueError(f"{path}:{row}: {key}: {error}") from None
    required = [k for k in ("species_count", "min_dist", "max_dist", "radial_basis_size",
                            "radial_funcs_count", "alpha_moments_count", "alpha_index_basic",
                            "alpha_moment_mapping") if k not in values]
    if required:
        raise ValueError(f"{path}: missing {', '.join(required)}")
    values.setdefault("alpha_index_times", np.zeros((0, 4), dtype=int))
    return MTPFile(**values)


def _radial_block(path: Path, lines: list[str], row: int, values: dict) -> tuple[np.ndarray, int]:
    species, functions = values.get("species_count"), values.get("radial_funcs_count")
    if species is None or functions is None:
        raise ValueError(f"{path}:{row}: radial_coeffs before species_count/radial_funcs_count")
    coefficients = np.zeros((species, species, functions, values["radial_basis_size"]))
    for first in range(species):
        for second in range(species):
            row += 1  # the "i-j" label
            for mu in range(functions):
                numbers = re.findall(r"[-+0-9.eE]+", lines[row])
                if len(numbers) != coefficients.shape[-1]:
                    raise ValueError(f"{path}:{row + 1}: radial_coeffs {first}-{second} row {mu} "
                                     f"has {len(numbers)} values, expected {coefficients.shape[-1]}")
                coefficients[first, second, mu] = [float(x) for x in numbers]
                row += 1
    return coefficients, row


def write_mtp(path: str | Path, mtp: MTPFile) -> None:
    """Write in MLIP-2's format, every coefficient to full double precision."""
    def listing(values, integer=False) -> str:
        return "{" + ", ".join(str(int(v)) if integer else f"{v:.16e}" for v in values) + "}"

    def rows(array) -> str:
        return "{" + ", ".join(listing(r, integer=True) for r in array) + "}"

    out = ["MTP", "version = 1.1.0", f"potential_name = {mtp.potential_name}"]
    if mtp.radial_coeffs is not None:
        out.append(f"scaling = {mtp.scaling:.16e}")
    out += [f"species_count = {mtp.species_count}", "potential_tag = ",
            "radial_basis_type = RBChebyshev", f"\tmin_dist = {mtp.min_dist:.16e}",
            f"\tmax_dist = {mtp.max_dist:.16e}", f"\tradial_basis_size = {mtp.radial_basis_size}",
            f"\tradial_funcs_count = {mtp.radial_funcs_count}"]
    if mtp.radial_coeffs is not None:
        out.append("\tradial_coeffs")
        for first in range(mtp.species_count):
            for second in range(mtp.species_count):
                out.append(f"\t\t{first}-{second}")
                out += [f"\t\t\t{listing(r)}" for r in mtp.radial_coeffs[first, second]]
    out += [f"alpha_moments_count = {mtp.alpha_moments_count}",
            f"alpha_index_basic_count = {len(mtp.alpha_index_basic)}",
            f"alpha_index_basic = {rows(mtp.alpha_index_basic)}",
            f"alpha_index_times_count = {len(mtp.alpha_index_times)}",
            f"alpha_index_times = {rows(mtp.alpha_index_times)}",
            f"alpha_scalar_moments = {len(mtp.alpha_moment_mapping)}",
            f"alpha_moment_mapping = {listing(mtp.alpha_moment_mapping, integer=True)}"]
    if mtp.species_coeffs is not None:
        out += [f"species_coeffs = {listing(mtp.species_coeffs)}",
                f"moment_coeffs = {listing(mtp.moment_coeffs)}"]
    Path(path).write_text("\n".join(out) + "\n")
