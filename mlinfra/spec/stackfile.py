"""Read a `stacks/Pulumi.<stack>.yaml` file defensively.

A stack file is small, flat configuration. Anything else is refused with the line it is on:
aliases (an alias bomb expands 9 lines into 10^9 values), nesting deeper than any real
setting, duplicate keys (Pulumi's own loader refuses them; PyYAML would silently keep the
last), invalid UTF-8 and files too large to be configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from mlinfra.errors import MISSING, Problem, SpecError, excerpt

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32


class _StackYamlLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise ComposerError(
                None,
                None,
                "YAML aliases (*name) are not allowed in a stack file; write the value out",
                self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ConstructorError(None, None, "mapping keys must be plain strings", key_node.start_mark)
                key = self.construct_object(key_node)
                if key in first:
                    raise ConstructorError(
                        None,
                        None,
                        f"duplicate key {excerpt(key)!r} (first set on line {first[key]}); each key may appear once",
                        key_node.start_mark,
                    )
                first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def parse_stack_yaml(path: Path, shown: str) -> Any:
    """The document in `path`, or SpecError naming the line of the first problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(
            [Problem(shown, "(file)", MISSING, f"a readable stack file ({exc.strerror or type(exc).__name__})")]
        ) from None
    if len(data) > MAX_BYTES:
        raise SpecError(
            [Problem(shown, "(file)", f"{len(data)} bytes", f"a stack file of at most {MAX_BYTES // 1024} KiB")]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(
            [Problem(shown, f"(encoding, line {line})", excerpt(data[exc.start : exc.start + 8]), "UTF-8 text")]
        ) from None
    try:
        return yaml.load(text, Loader=_StackYamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise SpecError(
            [Problem(shown, f"(YAML syntax, {where})", MISSING, f"valid YAML: {excerpt(problem, 200)}")]
        ) from None
    except RecursionError:
        raise SpecError(
            [Problem(shown, "(YAML syntax)", MISSING, f"valid YAML nested at most {MAX_DEPTH} levels")]
        ) from None
