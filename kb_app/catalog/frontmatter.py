"""Split a Markdown file into YAML front matter and body, keeping line numbers for error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from kb_app.problems import InputError, Problem


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: ~10x faster


class _FrontMatterLoader(_SafeLoader):
    """SafeLoader that never reads a float: `version: 3.10` must stay "3.10", not 3.1."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

Path_ = tuple[Any, ...]


@dataclass
class FrontMatter:
    data: dict[str, Any]
    lines: dict[Path_, int] = field(default_factory=dict)
    body: str = ""
    body_start_line: int = 1  # 1-based line of the first body line in the file

    def line_of(self, loc: Path_) -> int:
        """The file line of a field, falling back to its nearest parent, then the first line."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


_DELIMITER = re.compile(r"^---\s*$")


def decode(raw: bytes, path: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            [
                Problem.error(
                    path,
                    line,
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file as UTF-8",
                )
            ]
        ) from None


def _line_map(node: yaml.Node, offset: int) -> dict[Path_, int]:
    lines: dict[Path_, int] = {(): node.start_mark.line + 1 + offset}

    def walk(n: yaml.Node, path: Path_) -> None:
        if isinstance(n, yaml.MappingNode):
            for key_node, value_node in n.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
                child = (*path, key)
                lines[child] = key_node.start_mark.line + 1 + offset
                walk(value_node, child)
        elif isinstance(n, yaml.SequenceNode):
            for index, item in enumerate(n.value):
                child = (*path, index)
                lines[child] = item.start_mark.line + 1 + offset
                walk(item, child)

    walk(node, ())
    return lines


def parse(text: str, path: str) -> FrontMatter:
    """Parse `---` delimited front matter. Raises InputError naming the file and line."""
    if not text.strip():
        raise InputError([Problem.error(path, 1, "file is empty; an SOP needs front matter and a body")])
    lines = text.splitlines(keepends=True)
    if not _DELIMITER.match(lines[0]):
        raise InputError(
            [
                Problem.error(
                    path, 1, "missing front matter: the file must start with a line '---', then YAML, then '---'"
                )
            ]
        )
    end = next((i for i in range(1, len(lines)) if _DELIMITER.match(lines[i])), None)
    if end is None:
        raise InputError([Problem.error(path, 1, "front matter is not closed: add a line '---' after the YAML")])
    yaml_text = "".join(lines[1:end])
    offset = 1  # YAML line 0 is file line 2
    loader = _FrontMatterLoader(yaml_text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1 + offset) if mark else 2
        reason = exc.problem or exc.context or "invalid YAML"
        raise InputError([Problem.error(path, line, f"malformed YAML in front matter: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem.error(path, 2, f"malformed YAML in front matter: {exc}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InputError(
            [Problem.error(path, 2, "front matter must be a YAML mapping of fields (id: ..., title: ...)")]
        )
    return FrontMatter(
        data=data,
        lines=_line_map(node, offset),
        body="".join(lines[end + 1 :]),
        body_start_line=end + 2,
    )
