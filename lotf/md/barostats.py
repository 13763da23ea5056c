"""How NPT couples the cell to the pressure, by name: each barostat gives LAMMPS's `fix npt`
pressure keywords (the box is always a prism, so `tri` needs no conversion).

- `iso`: the three lengths scaled together (a bulk glass or liquid keeps its shape);
- `aniso`: each length to its own diagonal stress, angles fixed;
- `tri`: all six cell components (a crystal that may shear);
- `xy`: a and b scaled together, c on its own (an interface cell: the plane keeps its shape);
- `z`: only the length normal to the plane (an interface on a fixed substrate's lateral cell).
"""

from dataclasses import dataclass

BAROSTATS: dict[str, "Barostat"] = {}


@dataclass(frozen=True)
class Barostat:
    """One coupling of the cell: the `fix npt` keywords in terms of the pressure and damping."""

    name: str
    template: str  # {p}: pressure in bar, {d}: damping time in ps
    description: str

    def keywords(self, pressure_bar: float, damping_ps: float) -> str:
        """The keywords after `temp ...` in `fix npt`: this coupling at that pressure."""
        return self.template.format(p=repr(float(pressure_bar)), d=repr(float(damping_ps)))


def _register(name: str, template: str, description: str) -> None:
    BAROSTATS[name] = Barostat(name, template, description)


_register("iso", "iso {p} {p} {d}", "the three lengths scaled together")
_register("aniso", "aniso {p} {p} {d}", "each length to its own stress, angles fixed")
_register("tri", "tri {p} {p} {d}", "all six cell components")
_register("xy", "x {p} {p} {d} y {p} {p} {d} z {p} {p} {d} couple xy",
          "a and b scaled together, c on its own (interfaces)")
_register("z", "z {p} {p} {d}", "only c: the lateral cell fixed (interfaces on a substrate)")


def barostat(name: str) -> Barostat:
    """The registered barostat of that name; ValueError naming the known ones."""
    if name not in BAROSTATS:
        raise ValueError(f"unknown barostat '{name}' (known: {', '.join(BAROSTATS)})")
    return BAROSTATS[name]
