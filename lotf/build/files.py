"""Structures read from files (extxyz, CIF, POSCAR, MLIP .cfg ...), as a campaign names them."""

from pathlib import Path

from ase import Atoms
from pydantic import Field, ValidationInfo, field_validator

from lotf.build.spec import StructureSpec
from lotf.model import Strict


class StructureFile(Strict):
    """A file of structures read with ASE (extxyz, CIF, POSCAR, ...) or motep (MLIP .cfg), its
    path relative to the config."""

    file: Path
    index: str = Field("-1", description="ASE index: '-1' the last frame, ':' all, '::10' ...")
    format: str | None = None

    @field_validator("file")
    @classmethod
    def _exists(cls, path: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_dir", Path.cwd())
        full = (base / path).resolve()
        if not full.is_file():
            raise ValueError(f"file '{path}' does not exist (looked in {full.parent})")
        return full

    def symbols(self) -> set[str]:
        """The species in the file (reads it, so that a bad file is found at validation)."""
        return {s for atoms in self.read() for s in atoms.get_chemical_symbols()}

    def read(self, species: list[str] | None = None) -> list[Atoms]:
        """All selected frames as Atoms; MLIP .cfg files number their types by `species`."""
        import ase.io

        try:
            if self.format == "cfg" or (self.format is None and self.file.suffix == ".cfg"):
                from motep.io.mlip.cfg import read_cfg

                with open(self.file) as handle:
                    frames = read_cfg(handle, index=self.index, species=species)
            else:
                frames = ase.io.read(self.file, index=self.index, format=self.format)
        except Exception as error:  # ASE raises many kinds for unreadable files
            raise ValueError(f"cannot read '{self.file.name}': {error}") from None
        return frames if isinstance(frames, list) else [frames]


class FileStructures(StructureFile, StructureSpec):
    """Start structures read from a file."""

    def make(self, seed: int = 0) -> list[Atoms]:
        """The frames selected from the file (nothing random: `seed` is not used)."""
        return self.read()
