"""A study: campaigns that build on each other (two bulk glasses, their interface, production on
one potential trained on all of them), run in order in one folder, each resumed where it stopped.

A member campaign names an earlier member's run directory as `${study}/<name>` (its glasses,
its ledger); the study checks every such reference before anything runs, writes each member's
campaign with `${study}` filled in (and the study's `time_scale`) beside its run directory, and
runs it there. Running the study again resumes: finished members are skipped stage by stage.

A study can `extend` another and override its members' settings (another oracle, fewer walkers,
a thinner temperature ladder): a profile of the paper's study for a laptop is one short file.
"""

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import Field, ValidationError, model_validator

from lotf.config import MD
from lotf.errors import UserError
from lotf.log import logger
from lotf.model import Strict
from lotf.oracle.settings import Oracle
from lotf.schema import load_config
from lotf.store import atomic_write

if TYPE_CHECKING:  # the MPI groups are imported only when a study runs under a launcher
    from lotf.md.groups import Layout

FITS = "fits"  # the study folder's fits, shared by its members (lotf.learning.fit_cache)
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
REFERENCE = re.compile(r"\$\{study\}/([A-Za-z0-9_.-]+)")


class Study(Strict):
    """The study file: a name (its folder, runs/<name> by default) and member campaign files in
    the order they run, relative to the study file; or another study it `extends`, with
    `overrides` merged into its members (`all` into every one, a member's name into that one)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    campaigns: list[Path] | None = Field(None, min_length=1)
    extends: Path | None = Field(None, description="a study file whose members this one runs")
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="settings merged into members: mappings key by key, "
        "anything else (lists too) replaced")
    time_scale: float = Field(1.0, gt=0.0, le=1.0, description="every member's MD run lengths "
                              "times this (lotf study --scale overrides it)")

    @model_validator(mode="after")
    def _one_source(self) -> "Study":
        if (self.campaigns is None) == (self.extends is None):
            raise ValueError("give either `campaigns` (member files) or `extends` (a study file)")
        if self.overrides and self.extends is None:
            raise ValueError("`overrides` belong to a study that `extends` another")
        return self


class Member:
    """One campaign of a study: its file, its name, and its text with `${study}` unfilled."""

    def __init__(self, path: Path, overrides: dict[str, dict[str, Any]] | None = None):
        self.path = path
        try:
            self.text = path.read_text()
            data = yaml.safe_load(self.text)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise UserError(f"{path}: cannot read the campaign ({error})".splitlines()[0]) from None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise UserError(f"{path}: a member campaign needs a `name:` (its run directory)")
        self.name = data["name"]
        changes = [part for part in ((overrides or {}).get("all"),
                                     (overrides or {}).get(self.name)) if part]
        for change in changes:
            data = merged(data, change)
        if changes:  # written out whole: the member as it runs is the one file to read
            self.text = (f"# {path.name} with the study's overrides merged in\n"
                         + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100))
        if "time_scale" in data:
            raise UserError(f"{path}: time_scale is the study's (its file or --scale), not a "
                            "member's")
        if data.get("name") != self.name:
            raise UserError(f"{path}: overrides cannot rename a member ('{self.name}')")
        self.data = data  # as it runs, but for `${study}` and the time scale

    def references(self) -> list[str]:
        """The members whose run directories this one reads."""
        return REFERENCE.findall(self.text)

    def filled(self, folder: Path, time_scale: float) -> str:
        """The campaign as it runs: `${study}` is the study's folder, the scale appended."""
        text = self.text.replace("${study}", str(folder))
        return text if time_scale == 1.0 else f"{text.rstrip()}\ntime_scale: {time_scale!r}\n"


def merged(base: dict, change: dict) -> dict:
    """`base` with `change` merged in: mappings key by key, any other value replaced."""
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def _read_study(path: Path) -> Study:
    try:
        data = yaml.safe_load(path.read_text())
        return Study.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UserError(f"{path}: cannot read the study ({error})".splitlines()[0]) from None
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(key) for key in problem["loc"]) or "the study"
        raise UserError(f"{path}: {where}: {problem['msg']}".removesuffix(".")) from None


def _member_files(path: Path, study: Study) -> tuple[list[Path], dict[str, dict[str, Any]]]:
    """The member files a study runs and the overrides merged into them (an extended study's
    own overrides first, this study's on top)."""
    if study.campaigns is not None:
        return [path.parent / file for file in study.campaigns], {}
    base_path = (path.parent / study.extends).resolve()
    base = _read_study(base_path) if base_path.is_file() else None
    if base is None:
        raise UserError(f"{path}: extends: no study file {base_path}")
    if base.extends is not None:
        raise UserError(f"{path}: extends {base_path}, which extends another study; extend "
                        "the study that names its campaigns")
    files, _ = _member_files(base_path, base)
    return files, study.overrides


def load_study(path: Path) -> tuple[Study, list[Member]]:
    """The study and its members, checked: names unique, every placeholder `${study}`, every
    `${study}/X` an earlier member, every override a member's. A one-line UserError otherwise."""
    study = _read_study(path)
    files, overrides = _member_files(path, study)
    members, earlier = [], []
    for file in files:
        member = Member(file, overrides)
        for name in PLACEHOLDER.findall(member.text):
            if name != "study":
                raise UserError(f"{member.path}: unknown placeholder ${{{name}}}; a member "
                                "names the study's folder as ${study}")
        for name in member.references():
            if name not in earlier:
                raise UserError(f"{member.path}: ${{study}}/{name} is not an earlier campaign "
                                f"of the study (earlier: {', '.join(earlier) or 'none'})")
        if member.name in earlier:
            raise UserError(f"{member.path}: two members are named '{member.name}'")
        earlier.append(member.name)
        members.append(member)
    unknown = sorted(set(overrides) - set(earlier) - {"all"})
    if unknown:
        raise UserError(f"{path}: overrides.{unknown[0]}: not a member of the study (members: "
                        f"{', '.join(earlier)}; or `all`)")
    return study, members


def run_study(path: Path, workdir: Path | None = None, time_scale: float | None = None,
              verbose: bool = False) -> Path:
    """Run (or resume) every member in order in the study's folder; returns the folder."""
    from lotf.campaign import DEFAULT_RUNS, run_campaign

    study, members = load_study(path)
    scale = study.time_scale if time_scale is None else time_scale
    if not 0.0 < scale <= 1.0:
        raise UserError(f"--scale {scale:g}: give a factor above 0 and at most 1")
    folder = (workdir if workdir is not None else DEFAULT_RUNS / study.name).resolve()
    record = _record(folder, scale)
    record["members"] = [member.name for member in members]  # in order, for lotf status
    atomic_write(folder / "study.json", lambda handle: json.dump(record, handle, indent=2))
    files = {member.name: _write_member(member, folder, scale) for member in members}
    for member in members:  # those reading no other member are checked before any runs
        if not member.references():
            load_config(files[member.name], base_dir=member.path.parent.resolve())
    for index, member in enumerate(members, start=1):
        logger.info("study %s: campaign %d of %d, %s", study.name, index, len(members),
                    member.name)
        started = time.monotonic()
        try:
            run_campaign(files[member.name], folder / member.name, verbose,
                         base_dir=member.path.parent.resolve(), fit_cache=folder / FITS)
            record["done"] = sorted(set(record["done"]) | {member.name})
        finally:  # wall time of each member, summed over its runs, interrupted ones too
            seconds = record.setdefault("seconds", {})
            seconds[member.name] = round(seconds.get(member.name, 0.0)
                                         + time.monotonic() - started, 1)
            atomic_write(folder / "study.json",
                         lambda handle: json.dump(record, handle, indent=2))
    return folder


def study_layout(path: Path) -> "Layout":
    """How `mpiexec -n N lotf study` shares the job's ranks: one way for every member, since
    they run one after another in the same job (md.ranks, and the oracle's workers and ranks
    with executor mpi). Read from the members' texts, so that a member which reads an earlier
    one is checked before anything runs too."""
    from lotf.md.groups import Layout

    layouts = {}
    for member in load_study(path)[1]:
        md, oracle = member.data.get("md") or {}, member.data.get("oracle") or {}
        executor = oracle.get("executor", Oracle.model_fields["executor"].default)
        try:
            layout = Layout(int(md.get("ranks", MD.model_fields["ranks"].default)))
            if executor == "mpi":
                defaults = Oracle.model_fields
                layout = Layout(layout.md_ranks,
                                int(oracle.get("workers", defaults["workers"].default)),
                                int(oracle.get("ranks", defaults["ranks"].default)))
        except (TypeError, ValueError):
            raise UserError(f"{member.path}: md.ranks, oracle.workers and oracle.ranks must be "
                            "whole numbers to run the study under MPI") from None
        layouts[member.name] = layout
    first, *others = layouts.items()
    for name, layout in others:
        if layout != first[1]:
            raise UserError(
                f"study member '{name}' shares this MPI job's ranks as {_describe(layout)} but "
                f"'{first[0]}' as {_describe(first[1])}: the members run one after another in "
                "one job, so give them the same md.ranks (and oracle.workers and ranks with "
                "executor mpi), or run each with its own `lotf run`")
    return first[1]


def _describe(layout: "Layout") -> str:
    text = f"md.ranks = {layout.md_ranks}"
    if layout.oracle_groups:
        text += f", oracle.workers = {layout.oracle_groups}, oracle.ranks = {layout.oracle_ranks}"
    return text


def _write_member(member: Member, folder: Path, scale: float) -> Path:
    """The member's campaign as it runs, written beside its run directory."""
    file = folder / f"{member.name}.campaign.yaml"
    atomic_write(file, lambda handle: handle.write(member.filled(folder, scale)))
    return file


def _record(folder: Path, scale: float) -> dict:
    """The study's record (its scale, the members done); a resume at another scale is refused,
    since its members' finished stages ran at the first one."""
    path = folder / "study.json"
    if path.is_file():
        record = json.loads(path.read_text())
        if record["time_scale"] != scale:
            raise UserError(f"{folder} ran at time scale {record['time_scale']:g}, not "
                            f"{scale:g}; resume with --scale {record['time_scale']:g} or "
                            "start a new --workdir")
        return record
    folder.mkdir(parents=True, exist_ok=True)
    record = {"time_scale": scale, "done": []}
    atomic_write(path, lambda handle: json.dump(record, handle, indent=2))
    return record
