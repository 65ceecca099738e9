"""Read a YAML document together with the line of every field, so problems can say `path:line`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from kb_app.problems import Problem

Loc = tuple[Any, ...]


@dataclass
class YamlSource:
    """Plain data from one YAML file plus `lines[loc]`: the line of the key (or list item) at loc."""

    path: str
    data: Any = None
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, loc: Loc) -> int:
        """The line of a field, else of its nearest enclosing field, else 1."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


def decode_utf8(raw: bytes, path: str, what: str = "file") -> tuple[str | None, Problem | None]:
    """Decode UTF-8 (a leading byte-order mark is allowed); a bad byte is reported with its line."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem.error(
            path, line, f"{what} is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        )


def read_yaml(raw: bytes, path: str) -> YamlSource:
    """Parse one YAML document. Problems (bad bytes, bad YAML, empty file, duplicate keys) are
    collected in `problems`; `data` is None when nothing usable was read. Never raises."""
    source = YamlSource(path)
    text, problem = decode_utf8(raw, path)
    if problem:
        source.problems.append(problem)
        return source
    if not text.strip():
        source.problems.append(Problem.error(path, 1, "empty file: expected a question bank"))
        return source
    try:
        node, source.data = _compose_and_construct(text)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        source.problems.append(Problem.error(path, line, f"character U+{exc.character:04X} is not allowed in YAML"))
        return source
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = exc.problem or exc.context or "not valid YAML"
        source.problems.append(Problem.error(path, line, f"malformed YAML: {reason}"))
        return source
    except (yaml.YAMLError, RecursionError) as exc:
        source.problems.append(Problem.error(path, 1, f"malformed YAML: {type(exc).__name__}"))
        return source
    if node is None:
        source.problems.append(Problem.error(path, 1, "empty file: expected a question bank"))
        return source
    _walk(node, (), source, set())
    return source


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _walk(node: yaml.Node, loc: Loc, source: YamlSource, seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:  # an alias back into itself: its lines are recorded already
        return
    seen_nodes.add(id(node))
    if not loc:
        source.lines[()] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node.start_mark)
            line = key_node.start_mark.line + 1
            if key in seen:
                source.problems.append(
                    Problem.error(source.path, line, f"duplicate key `{key}` (first at line {seen[key]})")
                )
                continue
            seen[key] = line
            source.lines[(*loc, key)] = line
            _walk(value_node, (*loc, key), source, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            source.lines[(*loc, index)] = item.start_mark.line + 1
            _walk(item, (*loc, index), source, seen_nodes)
