"""The campaign file and its whole model: the core sections (lotf.config) and every registered
stage's own section (lotf.stages.registry), assembled into one typed, frozen `Campaign`; YAML
read safely into it and checked whole (lotf.crosscheck) before anything runs.

Every problem becomes a `UserError` of one line: ``file:line: key.path: what is wrong``.
"""

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, Field, ValidationError, create_model

from lotf import config as core
from lotf.crosscheck import problems
from lotf.errors import UserError
from lotf.scaling import scale_times
from lotf.stages.registry import registered, sections

MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_NODES = 100_000  # values in a campaign file once YAML aliases are expanded


def _known_stage(name: str) -> str:
    stages = registered()
    if name not in stages:
        raise ValueError(f"unknown stage '{name}' (available: {', '.join(stages)})")
    return name


def _assemble() -> type[core.Campaign]:
    """The core model with a field per registered stage section, and stage names checked."""
    fields: dict[str, Any] = {key: (section.model, section.default)
                              for key, section in sections().items()}
    fields["stages"] = (list[Annotated[str, AfterValidator(_known_stage)]],
                        Field(default_factory=lambda: ["bootstrap"], min_length=1))
    return create_model("Campaign", __base__=core.Campaign, __module__=__name__,
                        __doc__="A whole campaign: the core sections and every stage's own.",
                        **fields)


Campaign = _assemble()


def load_config(path: str | Path, base_dir: Path | None = None) -> core.Campaign:
    """Read and validate a campaign file; any problem raises a one-line UserError.

    Relative file paths in it are taken from `base_dir`, by default the file's own folder.
    """
    path = Path(path)
    text = _read_text(path)
    data, lines = _parse_yaml(text, path)
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: the campaign must be a mapping of keys (name, system, ...)")
    factor = data.get("time_scale", 1.0)
    if isinstance(factor, int | float) and not isinstance(factor, bool) and 0 < factor < 1:
        data = scale_times(data, Campaign, float(factor))
    try:
        campaign = Campaign.model_validate(data, context={
            "base_dir": base_dir or path.parent.resolve(), "species": _species(data)})
    except ValidationError as error:
        raise UserError(_describe(error, data, lines, path)) from None
    found = problems(campaign)
    if found:
        keys, message = found[0]
        more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
        line = next(lines[keys[:n]] for n in range(len(keys), -1, -1) if keys[:n] in lines)
        raise UserError(f"{path}:{line}: {_dotted(keys)}: {message}{more}")
    return campaign


def _read_text(path: Path) -> str:
    """The config file as text; a folder, a binary, an oversized or a non-UTF-8 file is refused."""
    if path.is_dir():
        raise UserError(f"'{path}' is a folder, not a campaign file")
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise UserError(f"{path}: {size} bytes is too large for a campaign file (at most "
                        f"{MAX_CONFIG_BYTES})")
    data = path.read_bytes()
    if b"\0" in data:
        raise UserError(f"{path}: this is a binary file, not a YAML campaign")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte {error.start}); save the file "
                        "as UTF-8") from None


def _species(data: dict) -> list[str] | None:
    """The campaign's species as written, for checks that need them (None if malformed)."""
    species = (data.get("system") or {}).get("species") if isinstance(data.get("system"), dict) \
        else None
    return species if isinstance(species, list) and all(isinstance(s, str) for s in species) \
        else None


def _parse_yaml(text: str, path: Path) -> tuple[Any, dict[tuple, int]]:
    """The data and, for every key path, the 1-based line where it is written."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None and _expanded_size(root, {}) > MAX_CONFIG_NODES:
            raise UserError(f"{path}:1: its YAML aliases expand to more than {MAX_CONFIG_NODES} "
                            "values (an alias bomb?)")
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"{mark.line + 1}" if mark else "1"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}:{line}: not valid YAML: {problem}") from None
    except RecursionError:
        raise UserError(f"{path}:1: the YAML is nested too deeply for a campaign") from None
    lines: dict[tuple, int] = {}
    if root is not None:
        _index_lines(root, (), lines, path)
    return data, lines


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the document holds once every alias is expanded (counted, not built)."""
    if id(node) not in sizes:
        sizes[id(node)] = 1  # a node that contains itself counts once
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) \
            else node.value if isinstance(node, yaml.SequenceNode) else []
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def _index_lines(node: yaml.Node, prefix: tuple, lines: dict[tuple, int], path: Path) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise UserError(
                    f"{path}:{key_node.start_mark.line + 1}: {_dotted(prefix + (key,))}: "
                    "key given twice"
                )
            seen.add(key)
            _index_lines(value_node, prefix + (key,), lines, path)
            lines[prefix + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, prefix + (index,), lines, path)


def _describe(error: ValidationError, data: Any, lines: dict[tuple, int], path: Path) -> str:
    """One line for the first problem, naming the key path and its YAML line."""
    problems = error.errors(include_url=False)
    first = problems[0]
    keys = _data_path(first["loc"], data)
    line = next(lines[keys[:n]] for n in range(len(keys), -1, -1) if keys[:n] in lines)
    message = _message(first, keys)
    others = {_data_path(p["loc"], data) for p in problems} - {keys}
    more = f" (and problems at {len(others)} more keys)" if others else ""
    where = _dotted(keys) or "top level"
    return f"{path}:{line}: {where}: {message}{more}"


def _data_path(loc: tuple, data: Any) -> tuple:
    """The error location without union tags ('<built>'), so it names only keys the user wrote.

    A part not in the data is a missing key if it is the last part, under a mapping.
    """
    keys: tuple = ()
    node = data
    for position, part in enumerate(loc):
        present = (part in node) if isinstance(node, dict) else (
            isinstance(node, list) and isinstance(part, int) and part < len(node))
        if present:
            node = node[part]
        elif isinstance(node, dict) and position == len(loc) - 1 and not str(part).startswith("<"):
            node = None
        else:
            continue
        keys += (part,)
    return keys


def _message(problem: dict, keys: tuple) -> str:
    kind, text = problem["type"], problem["msg"]
    if kind == "extra_forbidden":
        return f"unknown key '{keys[-1]}'"
    if kind == "missing":
        return "this key is required"
    if kind == "union_tag_invalid":  # an unknown builder or method: name the known ones
        value = problem["input"]
        key = next(k for k, v in value.items() if f"{v}" == problem["ctx"]["tag"].strip("<>"))
        known = [t.strip("'<> ") for t in problem["ctx"]["expected_tags"].split(",")]
        return (f"unknown {key} '{value[key]}' (known: "
                f"{', '.join(t for t in known if t != 'read')})")
    text = text.removeprefix("Value error, ")
    if kind not in {"value_error", "assertion_error"} and "input" in problem:
        value = problem["input"]
        if not isinstance(value, dict | list):
            text += f" (got {value!r})"
    return text


def _dotted(keys: tuple) -> str:
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
