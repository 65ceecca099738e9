"""Facts kept once and shown in many SOPs: `{{ kind:ref }}` markers in SOP text and their values.

A marker is replaced by its value when the catalog loads, so the site, search, publishing and the
content hash all see the value; a changed fact therefore changes the text of every SOP that
shows it, and `kb validate` asks for a version bump of each.

| marker | value |
| --- | --- |
| `{{ fact:NAME }}` | `facts.NAME.value` from `facts.yml` in the SOP directory |
| `{{ sla:ESC-ID/STEP }}` | the SLA of step `STEP` (its `id`) of escalation path `ESC-ID`, e.g. "4 hours" |
| `{{ told:ESC-ID/STEP }}` | what the customer is told for that step (`customer_told`), e.g. "2 business days" |
| `{{ fields:ESC-ID/STEP }}` | the step's required case fields, as code: `` `case_id`, `account_id` `` |

Durations in escalation steps count days as business days (the queues work business days).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from kb_app.catalog.schema import parse_duration
from kb_app.problems import Problem

if TYPE_CHECKING:
    from kb_app.catalog.model import Sop
    from kb_app.catalog.schema import EscalationStep

FACTS_FILE = "facts.yml"
MARKER = re.compile(r"\{\{\s*(?P<kind>[a-z]+)\s*:\s*(?P<ref>[^{}\s]+)\s*\}\}")
MARKER_KINDS = ("fact", "sla", "told", "fields")
FACT_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Fact:
    name: str
    value: str
    line: int  # line of the fact in facts.yml
    note: str = ""


@dataclass(frozen=True)
class Marker:
    line: int  # 1-based line in the text it was found in
    kind: str
    ref: str
    text: str  # the marker as written


@dataclass
class FactBook:
    """Every value a marker can name: the facts file plus the escalation steps that have an `id`."""

    facts: dict[str, Fact] = field(default_factory=dict)
    steps: dict[str, EscalationStep] = field(default_factory=dict)  # "ESC-ID/step-id" -> step
    path: str = FACTS_FILE
    problems: list[Problem] = field(default_factory=list)

    def value(self, kind: str, ref: str) -> str | None:
        """The text a marker renders as, or None when it names nothing known."""
        if kind == "fact":
            fact = self.facts.get(ref)
            return fact.value if fact else None
        step = self.steps.get(ref)
        if step is None:
            return None
        if kind == "sla":
            return duration_words(step.sla)
        if kind == "told":
            return duration_words(step.customer_told) if step.customer_told else None
        if kind == "fields":
            return ", ".join(f"`{name}`" for name in step.required_fields)
        return None

    def render(self, text: str) -> str:
        """`text` with every known marker replaced by its value (unknown markers stay as written)."""
        if "{{" not in text:
            return text

        def replace(match: re.Match) -> str:
            value = self.value(match.group("kind"), match.group("ref"))
            return match.group(0) if value is None else value

        return MARKER.sub(replace, text)

    def unknown(self, marker: Marker) -> str | None:
        """Why a marker cannot be resolved, or None when it can."""
        if marker.kind not in MARKER_KINDS:
            return f"unknown marker kind `{marker.kind}` in {marker.text} (known: {', '.join(MARKER_KINDS)})"
        if marker.kind == "fact":
            if marker.ref not in self.facts:
                return f"unknown fact `{marker.ref}` in {marker.text}: define it in {FACTS_FILE}"
            return None
        if "/" not in marker.ref:
            return f"{marker.text} must name a step as ESC-ID/step-id"
        step = self.steps.get(marker.ref)
        if step is None:
            return f"{marker.text} names no escalation step: give the step `id: {marker.ref.split('/', 1)[1]}` in {marker.ref.split('/', 1)[0]}"
        if marker.kind == "told" and not step.customer_told:
            return f"{marker.text}: step {marker.ref} has no `customer_told`"
        return None


def duration_words(value: str) -> str:
    """`4h` -> `4 hours`, `30m` -> `30 minutes`, `1d` -> `1 business day`."""
    delta = parse_duration(value)
    minutes = int(delta.total_seconds() // 60)
    for size, unit in ((1440, "business day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            amount = minutes // size
            return f"{amount} {unit}{'' if amount == 1 else 's'}"
    return f"{minutes} minutes"


def find_markers(text: str) -> list[Marker]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in MARKER.finditer(line):
            found.append(Marker(number, match.group("kind"), match.group("ref"), match.group(0)))
    return found


def parse_facts(text: str, path: str) -> tuple[dict[str, Fact], list[Problem]]:
    """Read `facts.yml`: `facts: {name: {value: ..., note: ...}}` (or `name: value`), with lines."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return {}, [Problem.error(path, (mark.line + 1) if mark else 1, f"malformed YAML: {error}")]
    if root is None:
        return {}, []
    if not isinstance(root, yaml.MappingNode):
        return {}, [Problem.error(path, root.start_mark.line + 1, "the facts file must be a mapping with `facts:`")]
    facts: dict[str, Fact] = {}
    problems: list[Problem] = []
    for key, node in root.value:
        if key.value != "facts":
            problems.append(Problem.error(path, key.start_mark.line + 1, f"unknown field `{key.value}` (only `facts`)"))
            continue
        if not isinstance(node, yaml.MappingNode):
            problems.append(Problem.error(path, node.start_mark.line + 1, "`facts` must map each name to its value"))
            continue
        for name_node, value_node in node.value:
            name, line = str(name_node.value), name_node.start_mark.line + 1
            if not FACT_NAME.match(name):
                problems.append(Problem.error(path, line, f"fact name `{name}` must be lower case words with dashes"))
                continue
            if name in facts:
                problems.append(
                    Problem.error(path, line, f"fact `{name}` is defined twice (first on line {facts[name].line})")
                )
                continue
            data = yaml.safe_load(yaml.serialize(value_node))
            note = ""
            if isinstance(data, dict):
                note = str(data.get("note") or "")
                extra = set(data) - {"value", "note"}
                if extra:
                    problems.append(
                        Problem.error(path, line, f"fact `{name}`: unknown field(s) {', '.join(sorted(extra))}")
                    )
                data = data.get("value")
            if data is None or isinstance(data, (dict, list)) or not str(data).strip() or "\n" in str(data):
                problems.append(Problem.error(path, line, f"fact `{name}` needs a one-line `value`"))
                continue
            facts[name] = Fact(name, str(data).strip(), line, note)
    return facts, problems


def load_facts(sop_dir: Path, display: str | None = None) -> tuple[dict[str, Fact], list[Problem]]:
    file = Path(sop_dir) / FACTS_FILE
    if not file.is_file():
        return {}, []
    return parse_facts(file.read_text(encoding="utf-8"), display or str(file))


def step_index(sops: list[Sop]) -> dict[str, EscalationStep]:
    return {f"{sop.id}/{step.id}": step for sop in sops for step in sop.steps if step.id}


def apply_facts(sops: list[Sop], book: FactBook) -> None:
    """Render every SOP's markers in place; the marked-up text stays in `source_body`."""
    for sop in sops:
        sop.source_body = sop.body
        sop.body = book.render(sop.body)
        sop.facts = book
