"""The protocol every structure spec follows: which species it holds, and its structures."""

from typing import Annotated

from ase import Atoms
from pydantic import Field, PositiveInt

from lotf.model import Strict

Repeat = Annotated[PositiveInt, Field(le=100)]


class StructureSpec(Strict):
    """A campaign's way to make start structures; `supercell` repeats each one along a, b, c."""

    supercell: tuple[Repeat, Repeat, Repeat] = (1, 1, 1)

    def symbols(self) -> set[str]:
        """The chemical species the structures contain."""
        raise NotImplementedError

    def make(self, seed: int) -> list[Atoms]:
        """The structures, each reproducible from `seed`."""
        raise NotImplementedError

    def build(self, seed: int) -> list[Atoms]:
        """The structures, repeated into supercells."""
        return [atoms.repeat(self.supercell) for atoms in self.make(seed)]
