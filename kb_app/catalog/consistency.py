"""Rules that keep SOP text consistent with the facts and escalation paths it cites.

- every `{{ kind:ref }}` marker names a known fact or escalation step (error);
- an escalation step promises the customer no less than its SLA, and step ids are unique (error);
- a time written out in prose next to a link to an escalation path should be a marker (warning),
  and says so louder when it matches none of that path's times (`find_time_contradictions`);
- a list of required case fields gives every field the receiving queue requires (error). The
  receiving queue of a list is a step of an escalation path linked in the same section (else named
  in `escalation:`), from the reader's tier, that shares at least half of its queue-specific
  fields (all but case_id, account_id, actions_taken) with the list: the queue the list is
  evidently written for.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from kb_app.catalog.facts import MARKER, FactBook, duration_words, find_markers
from kb_app.catalog.model import Catalog, Sop
from kb_app.catalog.schema import Kind, parse_duration
from kb_app.catalog.sections import _code_mask, find_headings
from kb_app.problems import Problem

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "ten": 10}
_TIME = re.compile(
    r"\b(?P<amount>\d+|one|two|three|four|five|six|seven|eight|ten)[\s-]*"
    r"(?P<unit>business[\s-]+days?|days?|d|hours?|hrs?|h|minutes?|mins?|m)\b",
    re.IGNORECASE,
)
_INLINE_LINK = re.compile(r"\[[^\]]*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_BLOCK_START = re.compile(r"^\s{0,3}(?:[-*+]\s|\d+[.)]\s|\||#{1,6}\s|!!!|===|///)")
_FIELD = re.compile(r"`([a-z][a-z0-9_]*)`")
_FIELD_LIST = re.compile(r"\b(?:required (?:case )?fields|include)\b", re.IGNORECASE)
# Fields every queue asks for: they say nothing about which queue a list is written for.
GENERIC_FIELDS = frozenset({"case_id", "account_id", "actions_taken"})


@dataclass(frozen=True)
class StatedTime:
    sop: Sop
    line: int  # file line
    text: str  # as written, e.g. "2 business days"
    value: timedelta
    path: Sop  # the escalation path linked next to it
    known: tuple[timedelta, ...]  # that path's SLAs and customer promises

    @property
    def contradicts(self) -> bool:
        return self.value not in self.known


def _time_value(match: re.Match) -> timedelta:
    amount = match.group("amount").lower()
    number = int(amount) if amount.isdigit() else _NUMBER_WORDS[amount]
    unit = match.group("unit").lower()
    if unit.startswith(("business", "d")):
        return timedelta(days=number)
    if unit.startswith("h"):
        return timedelta(hours=number)
    return timedelta(minutes=number)


def _blocks(sop: Sop) -> list[tuple[int, list[str]]]:
    """Paragraphs, list items and table rows of the source body: (first body line, lines)."""
    lines = sop.source_body.splitlines()
    in_code = _code_mask(lines)
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    for number, line in enumerate(lines, start=1):
        if in_code[number - 1] or not line.strip():
            current = None
            continue
        if current is None or _BLOCK_START.match(line):
            current = []
            blocks.append((number, current))
        current.append(line)
    return blocks


def _linked_paths(sop: Sop, text: str, catalog: Catalog, by_rel_path: dict[str, Sop]) -> list[Sop]:
    here = posixpath.dirname(sop.rel_path)
    found: list[Sop] = []
    for match in _INLINE_LINK.finditer(text):
        parts = urlsplit(match.group("target").strip("<>"))
        if parts.scheme or parts.netloc:
            continue
        path = unquote(parts.path)
        target = sop if not path else by_rel_path.get(posixpath.normpath(posixpath.join(here, path)))
        if target is not None and target.kind is Kind.ESCALATION and target not in found:
            found.append(target)
    return found


def _path_times(path: Sop, book: FactBook) -> tuple[timedelta, ...]:
    times = []
    for step in path.steps:
        times.append(parse_duration(step.sla))
        if step.customer_told:
            times.append(parse_duration(step.customer_told))
    return tuple(times)


def stated_times(sop: Sop, catalog: Catalog, by_rel_path: dict[str, Sop]) -> list[StatedTime]:
    """Times written out in prose (not markers) in a paragraph, item or row that links an escalation path."""
    found = []
    offset = sop.body_start_line - 1
    for start, lines in _blocks(sop):
        block = "\n".join(lines)
        paths = _linked_paths(sop, block, catalog, by_rel_path)
        if not paths:
            continue
        for index, line in enumerate(lines):
            prose = _INLINE_LINK.sub(" ", MARKER.sub(" ", line))
            for match in _TIME.finditer(prose):
                for path in paths:
                    found.append(
                        StatedTime(
                            sop,
                            start + index + offset,
                            match.group(0),
                            _time_value(match),
                            path,
                            _path_times(path, catalog.facts),
                        )
                    )
    return found


def find_time_contradictions(catalog: Catalog) -> list[StatedTime]:
    """Times stated next to an escalation link that match none of that path's SLAs or promises."""
    by_rel_path = {s.rel_path: s for s in catalog}
    return [t for sop in catalog for t in stated_times(sop, catalog, by_rel_path) if t.contradicts]


def check_markers(sop: Sop, book: FactBook) -> list[Problem]:
    problems = []
    for marker in find_markers(sop.source_body):
        why = book.unknown(marker)
        if why:
            problems.append(Problem.error(sop.path, marker.line + sop.body_start_line - 1, why))
    return problems


def check_steps(sop: Sop) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for index, step in enumerate(sop.steps):
        if step.id:
            if step.id in seen:
                problems.append(
                    Problem.error(sop.path, sop.line_of("steps", index, "id"), f"step id `{step.id}` is used twice")
                )
            seen.add(step.id)
        if step.customer_told and parse_duration(step.customer_told) < parse_duration(step.sla):
            problems.append(
                Problem.error(
                    sop.path,
                    sop.line_of("steps", index, "customer_told"),
                    f"customer_told {step.customer_told} is shorter than the step's SLA {step.sla}: "
                    "never promise the customer less time than the queue takes",
                )
            )
    return problems


def check_stated_times(sop: Sop, catalog: Catalog, by_rel_path: dict[str, Sop]) -> list[Problem]:
    problems = []
    for stated in stated_times(sop, catalog, by_rel_path):
        path = stated.path
        hint = f"{{{{ sla:{path.id}/<step> }}}} or {{{{ told:{path.id}/<step> }}}}"
        message = f"'{stated.text}' is written out next to a link to {path.id}: use a marker such as {hint} so it cannot drift"
        if stated.contradicts:
            times = ", ".join(sorted({duration_words(_as_duration(t)) for t in stated.known})) or "none"
            message += f"; it matches none of {path.id}'s times ({times})"
        problems.append(Problem.warning(sop.path, stated.line, message))
    return problems


def _as_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def _section_of(sop: Sop, body_line: int) -> tuple[int, int]:
    """Body line range (inclusive) of the section holding `body_line`."""
    starts = [h.line for h in find_headings(sop.source_body)]
    end_of_body = len(sop.source_body.splitlines())
    begin = max((s for s in starts if s <= body_line), default=1)
    end = min((s - 1 for s in starts if s > body_line), default=end_of_body)
    return begin, end


def check_required_fields(sop: Sop, catalog: Catalog, by_rel_path: dict[str, Sop]) -> list[Problem]:
    problems = []
    tier = "T1" if sop.visible_to("T1") and "T1" in sop.audience.tiers else "T2"
    lines = sop.source_body.splitlines()
    offset = sop.body_start_line - 1
    for start, block_lines in _blocks(sop):
        block = "\n".join(block_lines)
        if not _FIELD_LIST.search(block):
            continue
        listed = set(_FIELD.findall(catalog.facts.render(block)))
        if len(listed) < 3:
            continue
        begin, end = _section_of(sop, start)
        section = "\n".join(lines[begin - 1 : end])
        paths = _linked_paths(sop, section, catalog, by_rel_path) or [
            p for p in (catalog.get(i) for i in sop.escalation) if p is not None
        ]
        for path in paths:
            for number, step in enumerate(path.steps, start=1):
                if step.from_tier != tier:
                    continue
                specific = set(step.required_fields) - GENERIC_FIELDS
                if not specific or len(specific & listed) * 2 < len(specific):
                    continue  # not the queue this list is written for
                missing = [f for f in step.required_fields if f not in listed]
                if missing:
                    name = f"{path.id}/{step.id}" if step.id else f"{path.id} step {number}"
                    problems.append(
                        Problem.error(
                            sop.path,
                            start + offset,
                            f"required case fields omit {', '.join(f'`{m}`' for m in missing)}, which {name} "
                            f"({step.channel}) requires: add them, or write {{{{ fields:{path.id}/<step> }}}}",
                        )
                    )
    return problems
