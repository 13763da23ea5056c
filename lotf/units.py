"""Quantities written with their unit in the campaign file ("2 fs", "1 bar", "10 min").

A bare number for a time or a pressure is ambiguous (LAMMPS metal units use ps and bar,
ASE uses fs and eV/Å³), so the config asks for the unit and we convert once, here.
"""

import re

import numpy as np
from ase import Atoms
from ase.data import atomic_masses
from ase.units import GPa

AMU_PER_CM3_TO_G = 1.66053906660  # (1 amu / 1 Å³) in g/cm³
EV_PER_A3_TO_GPA = 1.0 / GPa  # a stress in ASE's eV/Å³, in GPa

_TIME = {"fs": 1.0, "ps": 1e3, "ns": 1e6, "us": 1e9, "s": 1e15, "min": 60e15, "h": 3600e15}
_PRESSURE = {"bar": 1.0, "atm": 1.01325, "kbar": 1e3, "Pa": 1e-5, "MPa": 10.0, "GPa": 1e4}
_DIMENSIONS = {"time": _TIME, "pressure": _PRESSURE}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*$")

EXAMPLES = {"time": "'2 fs', '20 ps' or '10 min'", "pressure": "'1 bar', '1 atm' or '0.1 GPa'"}


def parse_quantity(value: object, dimension: str, unit: str) -> float:
    """Return `value` (a string such as '20 ps') in `unit`; raise ValueError naming what was wanted."""
    table = _DIMENSIONS[dimension]
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"give the {dimension} with its unit, e.g. {EXAMPLES[dimension]}")
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a {dimension}; write e.g. {EXAMPLES[dimension]}")
    number, given = float(match.group(1)), match.group(2)
    if given not in table:
        raise ValueError(
            f"unknown {dimension} unit '{given}' (known: {', '.join(table)})"
        )
    return number * table[given] / table[unit]


def mass_density(mass_amu, volume_a3):
    """g/cm³ of `mass_amu` in `volume_a3` (numbers or arrays)."""
    return mass_amu * AMU_PER_CM3_TO_G / volume_a3


def density_g_cm3(atoms: Atoms) -> float:
    """Mass density of a periodic cell in g/cm³."""
    return float(mass_density(np.sum(atomic_masses[atoms.numbers]), atoms.get_volume()))
