"""A study: campaigns that build on each other (two bulk glasses, their interface, production on
one potential trained on all of them), run in order in one folder, each resumed where it stopped.

A member campaign names an earlier member's run directory as `${study}/<name>` (its glasses,
its ledger); the study checks every such reference before anything runs, writes each member's
campaign with `${study}` filled in (and the study's `time_scale`) beside its run directory, and
runs it there. Running the study again resumes: finished members are skipped stage by stage.
"""

import json
import re
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from lotf.config import load_config
from lotf.errors import UserError
from lotf.log import logger
from lotf.model import Strict
from lotf.store import atomic_write

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
REFERENCE = re.compile(r"\$\{study\}/([A-Za-z0-9_.-]+)")


class Study(Strict):
    """The study file: a name (its folder, runs/<name> by default) and member campaign files in
    the order they run, relative to the study file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    campaigns: list[Path] = Field(min_length=1)
    time_scale: float = Field(1.0, gt=0.0, le=1.0, description="every member's MD run lengths "
                              "times this (lotf study --scale overrides it)")


class Member:
    """One campaign of a study: its file, its name, and its text with `${study}` unfilled."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.text = path.read_text()
            data = yaml.safe_load(self.text)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise UserError(f"{path}: cannot read the campaign ({error})".splitlines()[0]) from None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise UserError(f"{path}: a member campaign needs a `name:` (its run directory)")
        if "time_scale" in data:
            raise UserError(f"{path}: time_scale is the study's (its file or --scale), not a "
                            "member's")
        self.name = data["name"]

    def references(self) -> list[str]:
        """The members whose run directories this one reads."""
        return REFERENCE.findall(self.text)

    def filled(self, folder: Path, time_scale: float) -> str:
        """The campaign as it runs: `${study}` is the study's folder, the scale appended."""
        text = self.text.replace("${study}", str(folder))
        return text if time_scale == 1.0 else f"{text.rstrip()}\ntime_scale: {time_scale!r}\n"


def load_study(path: Path) -> tuple[Study, list[Member]]:
    """The study and its members, checked: names unique, every placeholder `${study}`, every
    `${study}/X` an earlier member. A one-line UserError otherwise."""
    try:
        data = yaml.safe_load(path.read_text())
        study = Study.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UserError(f"{path}: cannot read the study ({error})".splitlines()[0]) from None
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(key) for key in problem["loc"]) or "the study"
        raise UserError(f"{path}: {where}: {problem['msg']}") from None
    members, earlier = [], []
    for file in study.campaigns:
        member = Member(path.parent / file)
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
    files = {member.name: _write_member(member, folder, scale) for member in members}
    for member in members:  # those reading no other member are checked before any runs
        if not member.references():
            load_config(files[member.name], base_dir=member.path.parent.resolve())
    for index, member in enumerate(members, start=1):
        logger.info("study %s: campaign %d of %d, %s", study.name, index, len(members),
                    member.name)
        run_campaign(files[member.name], folder / member.name, verbose,
                     base_dir=member.path.parent.resolve())
        record["done"] = sorted(set(record["done"]) | {member.name})
        atomic_write(folder / "study.json", lambda handle: json.dump(record, handle, indent=2))
    return folder


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
