"""`time_scale`: every MD run length of a campaign shortened by one factor, so that a study
written at the paper's times runs on a laptop. Applied to the campaign's raw data before it is
validated, so every check (a length longer than its timestep, ...) sees the shortened times.

Which fields are run lengths is said once, where they are declared: their type carries the
`SCALED` mark (config's `RunFs`). Timesteps, frame spacings and physical time scales do not.
"""

import types
import typing
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

from lotf.units import parse_quantity


class _ScaledByTimeScale:
    """The mark of a field that `time_scale` shortens."""


SCALED = _ScaledByTimeScale()


def scale_times(raw: dict, model: type[BaseModel], factor: float) -> dict:
    """A copy of `raw` (data for `model`) with every marked time, given or default, times
    `factor` (in fs); nested sections and lists of them too. Values that do not parse are left
    for validation to name."""
    out = dict(raw)
    for name, field in model.model_fields.items():
        value = raw.get(name)
        if _marked(field.annotation) or SCALED in field.metadata:
            given = value if name in raw else field.get_default(call_default_factory=True)
            if given is None:
                continue
            try:
                fs = given if name not in raw else parse_quantity(given, "time", "fs")
            except ValueError:
                continue
            out[name] = f"{float(fs) * factor!r} fs"
            continue
        for sub in _models(field.annotation):
            if isinstance(value, dict) and set(value) <= set(sub.model_fields):
                out[name] = scale_times(value, sub, factor)
                break
            if isinstance(value, list):
                out[name] = [scale_times(item, sub, factor) if isinstance(item, dict) else item
                             for item in value]
                break
            if name not in raw and isinstance(field.default, sub):
                scaled = scale_times({}, sub, factor)
                if scaled:
                    out[name] = scaled
                break
    return out


def _marked(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return SCALED in annotation.__metadata__ or _marked(get_args(annotation)[0])
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_marked(arg) for arg in get_args(annotation))
    return False


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The config sections an annotation can hold (through Optional, list, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models(arg)]
