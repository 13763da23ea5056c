"""The reference codes lotf knows by short name; each module registers its own."""

from lotf.oracle.codes import cp2k, espresso, gpaw, light, vasp

__all__ = ["cp2k", "espresso", "gpaw", "light", "vasp"]
