"""The base of every validated model: unknown keys are errors, values do not change after loading."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A config section: extra keys are rejected so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)
