"""Write `mlinfra:releases.<service>.image` into a stack file, leaving every other byte as it was.

The stack file is the team's (comments, order, quoting), so it is never re-serialised: the
pin is spliced into the text at the positions YAML's composer reports, the result is parsed
again and must equal the old document with only the pins changed, and the file is replaced
atomically (a crash leaves the old file or the new one, never half of one).
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

import yaml

from mlinfra.errors import PinWriteError

RELEASES_KEY = "mlinfra:releases"


def _key(mapping: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key, value in mapping.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            return key, value
    return None


def _line_end(text: str, index: int) -> int:
    """The index just past the line `index` is on (past its newline; the end of text if none)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _last_index(node: yaml.Node) -> int:
    """Where the last character of a node's own text is (a block mapping's end mark lies past comments)."""
    if isinstance(node, yaml.MappingNode) and node.value:
        return max(_last_index(node.value[-1][0]), _last_index(node.value[-1][1]))
    if isinstance(node, yaml.SequenceNode) and node.value:
        return max(node.end_mark.index if node.flow_style else 0, _last_index(node.value[-1]))
    return int(node.end_mark.index)


def _service_block(indent: int, service: str, ref: str) -> str:
    pad = " " * indent
    return f"{pad}{service}:\n{pad}  image: {ref}\n"


def _edits(text: str, pins: dict[str, str]) -> list[tuple[int, int, str]]:
    """(start, end, replacement) spans, for pins by service name."""
    root = yaml.compose(text)
    config = _key(root, "config") if isinstance(root, yaml.MappingNode) else None
    if config is None or not isinstance(config[1], yaml.MappingNode) or config[1].flow_style or not config[1].value:
        raise PinWriteError("its `config:` is not a block mapping")
    config_map = config[1]
    releases = _key(config_map, RELEASES_KEY)
    edits: list[tuple[int, int, str]] = []
    if releases is None:
        indent = config_map.value[0][0].start_mark.column
        at = _line_end(text, _last_index(config_map))
        prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
        body = "".join(_service_block(indent + 2, s, pins[s]) for s in sorted(pins))
        return [(at, at, f"{prefix}{' ' * indent}{RELEASES_KEY}:\n{body}")]
    key_node, node = releases
    if isinstance(node, yaml.MappingNode) and node.flow_style and not node.value:  # `mlinfra:releases: {}`
        indent = key_node.start_mark.column + 2
        body = "".join(_service_block(indent, s, pins[s]) for s in sorted(pins))
        start = node.start_mark.index
        while start > 0 and text[start - 1] == " ":
            start -= 1
        return [(start, node.end_mark.index, "\n" + body.rstrip("\n"))]
    if not isinstance(node, yaml.MappingNode):
        raise PinWriteError(f"its `{RELEASES_KEY}` is not a mapping")
    new: list[str] = []
    for service in sorted(pins):
        found = _key(node, service)
        image = _key(found[1], "image") if found and isinstance(found[1], yaml.MappingNode) else None
        if image is not None and isinstance(image[1], yaml.ScalarNode):
            edits.append((image[1].start_mark.index, image[1].end_mark.index, pins[service]))
        elif found is None:
            new.append(service)
        else:
            raise PinWriteError(f"its `{RELEASES_KEY}.{service}` is not `image: <ref>`")
    if new:
        if node.flow_style:
            raise PinWriteError(f"its `{RELEASES_KEY}` is a flow mapping (`{{...}}`)")
        indent = node.value[0][0].start_mark.column
        at = _line_end(text, _last_index(node))
        edits.append((at, at, "".join(_service_block(indent, s, pins[s]) for s in new)))
    return edits


def pinned_text(text: str, pins: dict[str, str], shown: str) -> str:
    """`text` with `config.mlinfra:releases.<service>.image` set for every pin; nothing else changes."""
    try:
        edits = _edits(text, pins)
    except PinWriteError as exc:
        raise PinWriteError(f"{shown}: cannot add the release pin without rewriting the file: {exc}") from None
    out = text
    for start, end, replacement in sorted(edits, reverse=True):
        out = out[:start] + replacement + out[end:]
    expected = copy.deepcopy(yaml.safe_load(text))
    releases = expected["config"].get(RELEASES_KEY) or {}
    for service, ref in pins.items():
        releases.setdefault(service, {})["image"] = ref
    expected["config"][RELEASES_KEY] = releases
    if yaml.safe_load(out) != expected:  # a shape the splice got wrong: refuse rather than corrupt
        raise PinWriteError(
            f"{shown}: cannot add the release pin without rewriting the file; set "
            + ", ".join(f"{RELEASES_KEY}.{s}.image = {r}" for s, r in sorted(pins.items()))
            + " by hand"
        )
    return out


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, keeping its permissions."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_pins(path: Path, pins: dict[str, str], shown: str) -> None:
    if not pins:
        return
    text = path.read_text(encoding="utf-8")
    write_atomically(path, pinned_text(text, pins, shown))
