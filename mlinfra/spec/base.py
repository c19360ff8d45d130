"""The base of every input model: unknown fields are errors, camelCase aliases, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class StrictModel(BaseModel):
    """Input models reject unknown fields (a typo must not silently do nothing), accept the
    camelCase spelling of stack YAML as well as Python field names, and are frozen."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)
