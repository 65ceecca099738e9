"""Section splitting, heading anchors and tier blocks of an SOP body.

Anchors come from Python-Markdown's own `toc` extension run with the same extensions as the
MkDocs site, so a section anchor here is exactly the `id` the built page carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import markdown
from markdown.extensions.toc import slugify

from kb_app.problems import Problem

# Must match `markdown_extensions` in mkdocs.yml where they affect headings.
MARKDOWN_EXTENSIONS = [
    "toc",
    "attr_list",
    "admonition",
    "tables",
    "def_list",
    "md_in_html",
    "pymdownx.details",
    "pymdownx.superfences",
    "pymdownx.tabbed",
]
MARKDOWN_EXTENSION_CONFIGS = {"toc": {"permalink": False}, "pymdownx.tabbed": {"alternate_style": True}}

_HEADING = re.compile(r"^(?P<indent>\s*)(?P<hashes>#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
_EXPLICIT_ID = re.compile(r"\s*\{[^}]*#(?P<id>[A-Za-z][\w:.-]*)[^}]*\}\s*$")
_ATTR_LIST = re.compile(r"\s*\{[^}]*\}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TIER_OPEN = re.compile(r"^///\s*tier\s*(?:\|\s*(?P<tiers>.*?))?\s*$")
_TIER_CLOSE = re.compile(r"^///\s*$")
_TIER_TITLES = {"T1": "Tier 1", "T2": "Tier 2 only"}


@dataclass(frozen=True)
class Heading:
    line: int  # 1-based within the text it was found in
    level: int
    text: str  # heading text without `#` marks and attribute list
    anchor: str  # the id the rendered page carries (deduplicated with _1, _2 by toc)
    requested: str  # the id the author asked for: explicit `{#id}` or the slug of the text


@dataclass(frozen=True)
class Section:
    """One part of an SOP from a heading to the next heading; the lead text has anchor ''."""

    anchor: str
    heading: str
    level: int
    text: str
    line: int

    def to_dict(self) -> dict:
        return {"anchor": self.anchor, "heading": self.heading, "level": self.level, "line": self.line}


@dataclass(frozen=True)
class TierBlock:
    start: int  # 1-based line of the opening `/// tier | ...`
    end: int  # 1-based line of the closing `///`
    tiers: frozenset[str]


def _code_mask(lines: list[str]) -> list[bool]:
    """True for lines inside fenced code blocks (including the fence lines)."""
    mask, fence = [], None
    for line in lines:
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            mask.append(True)
        elif fence is not None:
            mask.append(True)
            if line.strip().startswith(fence):
                fence = None
        else:
            mask.append(False)
    return mask


def find_tier_blocks(text: str, path: str = "", line_offset: int = 0) -> tuple[list[TierBlock], list[Problem]]:
    """Find `/// tier | T2` ... `///` blocks. Problems carry file lines (`line_offset` added)."""
    lines = text.splitlines()
    in_code = _code_mask(lines)
    blocks: list[TierBlock] = []
    problems: list[Problem] = []
    open_at: int | None = None
    open_tiers: frozenset[str] = frozenset()
    for number, line in enumerate(lines, start=1):
        if in_code[number - 1]:
            continue
        opening = _TIER_OPEN.match(line)
        if opening:
            if open_at is not None:
                problems.append(
                    Problem.error(
                        path,
                        number + line_offset,
                        f"tier block opened inside the tier block of line {open_at + line_offset}; close it with '///' first",
                    )
                )
                continue
            raw = [t for t in re.split(r"[\s,]+", opening.group("tiers") or "") if t]
            unknown = [t for t in raw if t not in _TIER_TITLES]
            if not raw or unknown:
                problems.append(
                    Problem.error(
                        path,
                        number + line_offset,
                        f"tier block needs tiers T1 and/or T2, got {', '.join(unknown) or 'none'} (write '/// tier | T2')",
                    )
                )
            open_at, open_tiers = number, frozenset(t for t in raw if t in _TIER_TITLES)
        elif _TIER_CLOSE.match(line) and open_at is not None:
            blocks.append(TierBlock(open_at, number, open_tiers))
            open_at = None
    if open_at is not None:
        problems.append(
            Problem.error(path, open_at + line_offset, "tier block is not closed: add a line '///' after its text")
        )
    return blocks, problems


def text_for_tier(text: str, tier: str | None) -> str:
    """The body as a reader of `tier` sees it: other tiers' blocks removed, own blocks boxed.

    `tier=None` returns the source unchanged. Tier 2 readers see every block (they have all
    material); Tier 1 readers never see a block that does not name T1. Kept for the most recent
    texts (every agent of a tier asks for the same few in a wave).
    """
    if tier is None:
        return text
    return _text_for_tier(text, tier)


@lru_cache(maxsize=256)
def _text_for_tier(text: str, tier: str) -> str:
    blocks, _ = find_tier_blocks(text)
    if not blocks:
        return text
    lines = text.splitlines()
    out: list[str] = []
    cursor = 0
    for block in blocks:
        out.extend(lines[cursor : block.start - 1])
        inner = lines[block.start : block.end - 1]
        cursor = block.end
        if tier == "T2" or tier in block.tiers:
            label = " and ".join(_TIER_TITLES[t] for t in sorted(block.tiers)) or "Tier"
            kind = "tier-t2" if block.tiers == frozenset({"T2"}) else "tier-t1"
            out.append(f'!!! {kind} "{label}"')
            out.append("")
            out.extend(("    " + ln) if ln.strip() else "" for ln in inner)
            out.append("")
    out.extend(lines[cursor:])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


@lru_cache(maxsize=4096)
def _toc_anchors(text: str) -> tuple[tuple[str, str], ...]:
    md = markdown.Markdown(extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_EXTENSION_CONFIGS)
    md.convert(text)
    flat: list[tuple[str, str]] = []

    def walk(tokens):
        for token in tokens:
            flat.append((token["id"], token["name"]))
            walk(token["children"])

    walk(md.toc_tokens)
    return tuple(flat)


def _plain_heading(raw: str) -> tuple[str, str | None]:
    explicit = _EXPLICIT_ID.search(raw)
    text = _ATTR_LIST.sub("", raw).strip()
    return text, (explicit.group("id") if explicit else None)


def find_headings(text: str) -> list[Heading]:
    lines = text.splitlines()
    in_code = _code_mask(lines)
    found: list[tuple[int, int, str, str | None, str]] = []
    for number, line in enumerate(lines, start=1):
        if in_code[number - 1] or _TIER_OPEN.match(line):
            continue
        match = _HEADING.match(line)
        if match is None:
            continue
        if len(match.group("indent").expandtabs(4)) < 4 or _inside_container(lines, number):
            heading_text, explicit = _plain_heading(match.group("text"))
            found.append((number, len(match.group("hashes")), heading_text, explicit, match.group("text")))
    # The ids depend only on the headings and their order, so Markdown renders just those:
    # the same ids as the full page (same slugify, same _1 de-duplication) at a fraction of the cost.
    toc = _toc_anchors("\n\n".join(f"{'#' * level} {raw}" for _, level, _, _, raw in found))
    if len(toc) == len(found):
        return [
            Heading(n, level, name, anchor, explicit or slugify(name, "-"))
            for (n, level, name, explicit, _), (anchor, _name) in zip(found, toc)
        ]
    # Fallback (a heading form the scanner does not know): slugify like the toc extension does.
    return [
        Heading(n, level, name, explicit or slugify(name, "-"), explicit or slugify(name, "-"))
        for n, level, name, explicit, _ in found
    ]


def _inside_container(lines: list[str], number: int) -> bool:
    """Indented headings count only inside an admonition or tab (whose bodies are indented)."""
    for previous in reversed(lines[: number - 1]):
        if not previous.strip():
            continue
        if not previous.startswith((" ", "\t")):
            return previous.lstrip().startswith(("!!!", "???", "===", "/// tier"))
    return False


def split_sections(text: str) -> list[Section]:
    """Split at every heading. Text before the first heading becomes a lead section (anchor '')."""
    lines = text.splitlines(keepends=True)
    headings = find_headings(text)
    sections: list[Section] = []
    first = headings[0].line if headings else len(lines) + 1
    lead = "".join(lines[: first - 1])
    if lead.strip():
        sections.append(Section("", "", 0, lead, 1))
    for index, heading in enumerate(headings):
        end = headings[index + 1].line - 1 if index + 1 < len(headings) else len(lines)
        sections.append(
            Section(heading.anchor, heading.text, heading.level, "".join(lines[heading.line - 1 : end]), heading.line)
        )
    return sections
