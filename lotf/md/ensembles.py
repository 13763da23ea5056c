"""Thermodynamic ensembles by name, as LAMMPS styles are: each registered class knows its LAMMPS
fix, whether it needs a pressure (and so a barostat), and whether the volume changes. The config's
ensemble names, the MD session's fix and the volume guard of learning all read this table.

Adding an ensemble is one subclass here with `@register("name")`.
"""

from dataclasses import dataclass

from lotf.md.barostats import barostat
from lotf.registry import registrar

ENSEMBLES: dict[str, type["Ensemble"]] = {}
register = registrar(ENSEMBLES)


@dataclass(frozen=True)
class Thermostat:
    """What an ensemble's fix is made of: temperatures (K), damping times (ps), pressure."""

    start_k: float
    end_k: float
    tdamp_ps: float
    pdamp_ps: float
    pressure_bar: float | None
    barostat: str


class Ensemble:
    """One ensemble: its LAMMPS `fix` and what it asks of a phase."""

    name = ""
    needs_pressure = False  # an NPT-like ensemble: a pressure and a barostat
    volume_changes = False  # the cell may leave the training data's volumes

    @staticmethod
    def fix(s: Thermostat) -> str:
        """The LAMMPS command that integrates the motion, as `fix md all ...`."""
        raise NotImplementedError


@register("nvt")
class NVT(Ensemble):
    """Nosé–Hoover at constant volume, the temperature ramped from start to end."""

    name = "nvt"

    @staticmethod
    def fix(s: Thermostat) -> str:
        return f"fix md all nvt temp {s.start_k!r} {s.end_k!r} {s.tdamp_ps!r}"


@register("npt")
class NPT(Ensemble):
    """Nosé–Hoover with a barostat (lotf.md.barostats) at a pressure in bar."""

    name = "npt"
    needs_pressure = True
    volume_changes = True

    @staticmethod
    def fix(s: Thermostat) -> str:
        return (f"fix md all npt temp {s.start_k!r} {s.end_k!r} {s.tdamp_ps!r} "
                + barostat(s.barostat).keywords(s.pressure_bar, s.pdamp_ps))


@register("nve")
class NVE(Ensemble):
    """Plain velocity Verlet: no thermostat."""

    name = "nve"

    @staticmethod
    def fix(s: Thermostat) -> str:
        return "fix md all nve"


def ensemble(name: str) -> type[Ensemble]:
    """The registered ensemble of that name; ValueError naming the known ones."""
    if name not in ENSEMBLES:
        raise ValueError(f"unknown ensemble '{name}' (known: {', '.join(ENSEMBLES)})")
    return ENSEMBLES[name]
