"""A reference code as lotf knows it (`Code`): where its ASE calculator lives, lotf's defaults,
how it runs on several MPI ranks and how its output is checked; and the table of codes by short
name. Each module of lotf/oracle/codes/ registers its codes here; lotf.oracle.calculators looks
them up. A new short name is one `register(...)` call in lotf/oracle/codes/.
"""

import importlib
import importlib.metadata
import importlib.util
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ase.calculators.calculator import Calculator

# How a code uses several MPI ranks per call (oracle.ranks):
SERIAL = "serial"    # one process only (ranks must be 1)
PYTHON = "python"    # the calculator's Python runs on every rank (GPAW): lotf starts the ranks
PROGRAM = "program"  # the calculator starts a program (CP2K, VASP, QE): the launcher prefixes it


@dataclass(frozen=True)
class Code:
    """Where a code's ASE calculator lives, lotf's defaults for it, and how it is run and checked.

    Subclasses override `missing` (what this machine lacks to run it, before any call),
    `unconverged` (the code's own verdict on a finished call) and `with_command`.
    """

    module: str
    attribute: str
    defaults: dict[str, Any] = field(default_factory=dict)
    package: str | None = None
    mpi: str = SERIAL
    # a worker may keep the calculator for calls with the same settings (reset between calls):
    # only where nothing of one call (wavefunctions, an SCF guess, a program's state) reaches the next
    reusable: bool = True
    # for PROGRAM codes: the default program and launcher; for PYTHON codes the launcher only
    program: str | None = None
    launcher: str = "mpiexec -n {ranks}"
    rank_environment: dict[str, str] = field(default_factory=dict)  # set on every rank
    communicator: str | None = None  # PYTHON codes: 'module:world', whose .size the probe reads
    # PYTHON codes that run on ranks of lotf's own MPI job (oracle.executor: mpi, ranks > 1):
    # the keyword that takes the communicator, the 'module:Class' that wraps an mpi4py one,
    # and what the ranks' environment needs before the code is imported
    group_keyword: str | None = None
    group_wrapper: str | None = None
    group_environment: dict[str, str] = field(default_factory=dict)
    versioned: bool = False  # the installed version of `package` is part of the level of theory
    install_hint: ClassVar[str] = ""

    def merged(self, defaults: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """lotf's defaults overridden by the campaign's parameters (key by key)."""
        return {**defaults, **params}

    def missing(self, params: dict[str, Any], species: list[str]) -> str | None:
        """What this machine lacks to run the code on these species (None: nothing known)."""
        program = self.command_program(params)
        if program and shutil.which(program) is None:
            return f"its program '{program}' is not on PATH{self.install_hint}"
        return None

    def unconverged(self, calc: Calculator, workdir: Path) -> str | None:
        """Why the finished call's result cannot be trusted, in the code's own words, or None."""
        return None

    def command(self, params: dict[str, Any], ranks: int, launcher: str | None) -> str | None:
        """The shell command that runs the program on `ranks` ranks (None: ASE's own default)."""
        if "command" in params or self.program is None:
            return params.get("command")
        if ranks == 1:
            return None
        prefix = (launcher or self.launcher).format(ranks=ranks)
        return f"{prefix} {self.program}"

    def with_command(self, params: dict[str, Any], command: str | None) -> dict[str, Any]:
        """The calculator's keyword arguments with this launch command (ASE's `command`)."""
        return params if command is None else {**params, "command": command}

    def enter_group(self) -> None:
        """Make this process ready to run the code on ranks of lotf's own MPI job (before the
        first call there): its `group_environment`."""
        os.environ.update(self.group_environment)

    def on_group(self, params: dict[str, Any], comm) -> dict[str, Any]:
        """The keyword arguments for a call on `comm`, ranks of lotf's own MPI job."""
        module, _, attribute = (self.group_wrapper or "").partition(":")
        wrapped = getattr(importlib.import_module(module), attribute)(comm) if module else comm
        return {**params, self.group_keyword: wrapped}

    def command_program(self, params: dict[str, Any]) -> str | None:
        """The program a call would start (the first word of its command that is not a launcher
        or its option), for the pre-flight check; None for codes that start no program."""
        if self.mpi != PROGRAM:
            return None
        words = shlex.split(params.get("command") or self.default_command() or "")
        return _program_in(words)

    def default_command(self) -> str | None:
        """The command ASE uses when lotf gives none (from ASE's environment variables)."""
        return self.program


CODES: dict[str, Code] = {}
LAUNCHERS = frozenset({"mpiexec", "mpirun", "srun", "aprun", "orterun", "mpiexec.hydra",
                       "jsrun", "ibrun", "time", "nice", "env"})


def _program_in(words: list[str]) -> str | None:
    """The first word that is neither a known launcher, its option nor an option's value."""
    skip_value = False
    for word in words:
        if skip_value:
            skip_value = False
            continue
        if word.startswith("-"):
            skip_value = "=" not in word and word in {"-n", "-np", "--ntasks", "-c", "-N"}
            continue
        if Path(word).name in LAUNCHERS or "=" in word:
            continue
        return word
    return None


def register(name: str, code: Code) -> None:
    """Make `name` usable as `oracle.calculator` in a campaign."""
    CODES[name] = code
