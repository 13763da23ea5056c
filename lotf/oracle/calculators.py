"""Reference codes by short name or 'module:Class': defaults, checks and MPI launch, and the
content fingerprint of a level of theory.

A code is registered as a `Code` (or a subclass that knows its program's output and files);
a new short name is one `register(...)` call in lotf/oracle/codes/, nothing else in lotf changes.
"""

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
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


def resolve(name: str) -> Code:
    """The registered code for a short name, or an ad-hoc one for 'package.module:Class'."""
    _load_codes()
    if name in CODES:
        return CODES[name]
    if ":" in name:
        module, _, attribute = name.partition(":")
        if module and attribute:
            return Code(module, attribute, mpi=PYTHON)
    raise ValueError(
        f"unknown calculator '{name}'; use one of {', '.join(CODES)} or 'module:Class'"
    )


def _load_codes() -> None:
    import lotf.oracle.codes  # noqa: F401  (each module registers its codes)


def check_available(name: str) -> None:
    """Raise ValueError if the calculator's module cannot be found or lacks its class."""
    entry = resolve(name)
    try:
        found = importlib.util.find_spec(entry.module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        hint = f" (pip install {entry.package})" if entry.package else ""
        raise ValueError(f"calculator '{name}' needs module '{entry.module}', not installed{hint}")
    try:
        module = importlib.import_module(entry.module)
    except Exception as error:  # whatever a broken installation raises
        raise ValueError(f"calculator '{name}': module '{entry.module}' fails to import "
                         f"({type(error).__name__}: {error})") from None
    if not hasattr(module, entry.attribute):
        raise ValueError(f"calculator '{name}': module '{entry.module}' has no "
                         f"'{entry.attribute}'")


def parameters(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments a calculator gets: lotf's defaults overridden by the campaign's."""
    entry = resolve(name)
    return entry.merged(entry.defaults, params)


def make_calculator(name: str, params: dict[str, Any], ranks: int = 1,
                    launcher: str | None = None, comm=None) -> Calculator:
    """Import and construct the calculator, its program (if any) launched on `ranks` ranks, or
    (`comm`, an mpi4py communicator) its Python running on those ranks of this MPI job."""
    entry = resolve(name)
    module = importlib.import_module(entry.module)
    try:
        factory = getattr(module, entry.attribute)
    except AttributeError:
        raise ValueError(f"module '{entry.module}' has no '{entry.attribute}'") from None
    settings = parameters(name, params)
    if entry.mpi == PROGRAM:
        settings = entry.with_command(settings, entry.command(settings, ranks, launcher))
    if comm is not None:
        settings = entry.on_group(settings, comm)
    return factory(**settings)


# how a call is launched and where it writes, never what it computes: left out of the fingerprint,
# so that a label computed on 2 ranks is found again on 64 (ASE's names for these settings)
LAUNCH_SETTINGS = frozenset({"command", "directory", "label", "txt", "parallel",
                             "communicator", "profile", "nprocs", "pseudo_dir"})


def fingerprint(name: str, params: dict[str, Any]) -> str:
    """Hex digest naming the level of theory: the same name and effective parameters, the same
    key, whatever the launch settings (LAUNCH_SETTINGS)."""
    theory = {k: v for k, v in parameters(name, params).items() if k not in LAUNCH_SETTINGS}
    named = {"calculator": name, "params": theory}
    code = resolve(name)
    if code.versioned and code.package:
        named["version"] = importlib.metadata.version(code.package)
    text = json.dumps(named, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
