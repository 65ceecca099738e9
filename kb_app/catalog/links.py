"""Links in an SOP (or translation) body, with file lines and whether they sit in Tier 2-only text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from kb_app.catalog.sections import _code_mask, find_tier_blocks

_INLINE_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(?P<target>\S+)")
_INLINE_CODE = re.compile(r"`[^`]*`")


@dataclass
class Link:
    line: int  # file line
    target: str
    in_t2_block: bool


class HasBody(Protocol):
    body: str

    @property
    def body_start_line(self) -> int: ...


def extract_links(sop: HasBody) -> list[Link]:
    lines = sop.body.splitlines()
    in_code = _code_mask(lines)
    blocks, _ = find_tier_blocks(sop.body)
    t2_lines = {n for b in blocks if "T1" not in b.tiers for n in range(b.start, b.end + 1)}
    links = []
    for number, line in enumerate(lines, start=1):
        if in_code[number - 1]:
            continue
        stripped = _INLINE_CODE.sub("", line)
        targets = [m.group("target").strip("<>") for m in _INLINE_LINK.finditer(stripped)]
        reference = _REFERENCE_LINK.match(stripped)
        if reference:
            targets.append(reference.group("target").strip("<>"))
        for target in targets:
            links.append(Link(number + sop.body_start_line - 1, target, number in t2_lines))
    return links
