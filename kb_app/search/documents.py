"""SOP sections as search documents, per audience tier.

Each tier gets only what its readers may read: Tier 1 documents come from SOPs visible to Tier 1
and from the Tier 1 text of those SOPs (no Tier 2 blocks); Tier 2 documents come from every
SOP. Drafts are never searchable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator

from kb_app.catalog import Catalog, Kind, Sop, Status

TIERS = ("T1", "T2")

# Demotion factors applied to a section's score. Retired procedures stay findable (an agent may
# still search for last year's name) but rank below current ones; "Related" sections are lists of
# other SOPs' titles and would otherwise outrank the SOPs they point to.
RETIRED_FACTOR = 0.5
LINK_LIST_FACTOR = 0.3
LINK_LIST_ANCHORS = frozenset({"related", "see-also"})


@dataclass(frozen=True)
class SectionDocument:
    key: str  # "SOP-ID#anchor"
    sop_id: str
    kind: str
    status: str
    version: str
    title: str
    heading: str
    anchor: str
    level: int
    order: int
    body: str  # plain text of the section, heading line excluded
    tags: tuple[str, ...]
    owner: str
    tiers: tuple[str, ...]  # the SOP's audience tiers
    visibility: str
    page: str  # site path of the SOP's page, e.g. procedures/ato-recovery/
    expires: datetime | None
    factor: float

    def fields(self) -> dict:
        """The Whoosh document (field name -> value)."""
        return {
            "key": self.key,
            "sop_id": self.sop_id,
            "kind": self.kind,
            "status": self.status,
            "version": self.version,
            "title": self.title,
            "heading": self.heading,
            "anchor": self.anchor,
            "level": self.level,
            "order": self.order,
            "body": self.body,
            "tags": " ".join(self.tags),
            "tag": ",".join(self.tags),
            "owner": self.owner,
            "tier": " ".join(self.tiers),
            "visibility": self.visibility,
            "page": self.page,
            "expires": self.expires.isoformat() if self.expires else "",
        }


def page_path(rel_path: str) -> str:
    """Where MkDocs (use_directory_urls) puts the page of an SOP file: `a/b.md` -> `a/b/`."""
    stem = rel_path[:-3] if rel_path.endswith(".md") else rel_path
    if stem == "index" or stem.endswith("/index"):
        stem = stem[: -len("index")].rstrip("/")
    return f"{stem}/" if stem else ""


def section_url(page: str, anchor: str, prefix: str = "/sop/") -> str:
    return f"{prefix}{page}" + (f"#{anchor}" if anchor else "")


def is_searchable(sop: Sop, tier: str) -> bool:
    return sop.status is not Status.DRAFT and sop.visible_to(tier)


def tier_documents(catalog: Catalog | Iterable[Sop], tier: str) -> Iterator[SectionDocument]:
    """One document per section of every SOP a reader of `tier` may read, in that tier's text."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r} (expected one of {', '.join(TIERS)})")
    for sop in catalog:
        if not is_searchable(sop, tier):
            continue
        yield from sop_documents(sop, tier)


def sop_documents(sop: Sop, tier: str) -> Iterator[SectionDocument]:
    sections = sop.sections_for(tier)
    steps_text = _steps_text(sop, tier)
    steps_home = _steps_section(sections) if steps_text else None
    page = page_path(sop.rel_path or sop.path)
    for order, section in enumerate(sections):
        body = plain_text(_without_heading(section.text) if section.anchor or section.heading else section.text)
        if order == steps_home:
            body = f"{body}\n{steps_text}".strip()
        factor = RETIRED_FACTOR if sop.status is Status.RETIRED else 1.0
        if section.anchor in LINK_LIST_ANCHORS:
            factor *= LINK_LIST_FACTOR
        yield SectionDocument(
            key=f"{sop.id}#{section.anchor}",
            sop_id=sop.id,
            kind=sop.kind.value,
            status=sop.status.value,
            version=sop.version,
            title=sop.title,
            heading=section.heading or sop.title,
            anchor=section.anchor,
            level=section.level,
            order=order,
            body=body,
            tags=tuple(sop.tags),
            owner=sop.owner,
            tiers=tuple(sop.audience.tiers),
            visibility=sop.visibility.value,
            page=page,
            expires=sop.expires if sop.kind is Kind.BULLETIN else None,
            factor=factor,
        )


def _steps_section(sections) -> int | None:
    """Escalation steps (front matter) are searched as part of the `steps` section, else the first."""
    if not sections:
        return None
    for index, section in enumerate(sections):
        if section.anchor == "steps":
            return index
    return 0


def _steps_text(sop: Sop, tier: str) -> str:
    """Escalation steps as sentences; a Tier 1 reader only gets the steps Tier 1 takes."""
    lines = []
    for step in sop.steps:
        if tier == "T1" and step.from_tier != "T1":
            continue
        fields = ", ".join(step.required_fields)
        lines.append(
            f"{step.trigger}. {step.from_tier} to {step.to_team} via {step.channel}, SLA {step.sla}. Case fields: {fields}."
        )
    return "\n".join(lines)


def _without_heading(text: str) -> str:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip():
            return "\n".join(lines[index + 1 :]) if line.lstrip().startswith("#") else text
    return text


_FENCE = re.compile(r"^\s*(```|~~~)")
_ADMONITION = re.compile(r'^\s*(?:!!!|\?\?\?\+?)\s*([\w-]+)(?:\s+"(?P<title>[^"]*)")?\s*$')
_TAB = re.compile(r'^\s*===\+?\s*"(?P<title>[^"]*)"\s*$')
_TIER_MARKER = re.compile(r"^\s*///")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_ATTR_LIST = re.compile(r"\s*\{[:#.][^}]*\}")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_EMPHASIS = re.compile(r"(\*\*|__|(?<!\w)\*(?!\s)|(?<!\w)_(?!\s)|(?<!\s)\*(?!\w)|(?<!\s)_(?!\w))")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SPACES = re.compile(r"[ \t]+")


def plain_text(markdown_text: str) -> str:
    """Markdown reduced to the words a reader sees: no markup, link targets or tier markers."""
    out: list[str] = []
    for raw in markdown_text.splitlines():
        if _FENCE.match(raw) or _TIER_MARKER.match(raw) or _TABLE_RULE.match(raw):
            continue
        admonition = _ADMONITION.match(raw)
        if admonition:
            kind = admonition.group(1)
            title = admonition.group("title")
            if kind.startswith("tier-"):
                continue
            raw = title if title is not None else kind.capitalize()
        tab = _TAB.match(raw)
        if tab:
            raw = tab.group("title")
        line = _HEADING.sub("", raw)
        line = _LIST_MARK.sub("", line)
        line = _ATTR_LIST.sub("", line)
        line = _IMAGE.sub(r"\1", line)
        line = _LINK.sub(r"\1", line)
        line = _REF_LINK.sub(r"\1", line)
        line = line.replace("`", "")
        line = _EMPHASIS.sub("", line)
        if "|" in line:
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|") if cell.strip())
            line = line + "."
        line = _SPACES.sub(" ", line).strip()
        if line:
            out.append(line)
    return "\n".join(out)
