"""What a search returns: hits (one per SOP section) or groups (one per SOP, its best sections
beneath it), facet counts, suggestions, pinned bulletins."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SearchHit:
    sop_id: str
    title: str
    kind: str  # sop | escalation | bulletin
    status: str  # active | retired (drafts are never indexed)
    version: str
    section: str  # the section heading (the SOP title for text before the first heading)
    anchor: str  # "" for text before the first heading
    url: str  # the section in the reader's own site, e.g. /sop/procedures/ato-recovery/#verify-ownership
    snippet: str  # HTML: escaped text with <mark> around the matched words
    score: float
    tags: tuple[str, ...] = ()
    owner: str = ""
    language: str = "en"  # the language of the section found (a translation, or the source)

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tags"] = list(self.tags)
        data["score"] = round(self.score, 4)
        data["retired"] = self.retired
        return data


@dataclass(frozen=True)
class SearchGroup:
    """One SOP of a grouped search: its best matching sections, best first (deep links)."""

    sop_id: str
    title: str
    kind: str
    status: str
    version: str
    url: str  # the SOP's page in the reader's own site
    score: float  # what the SOP is ranked by (see kb_app.search.grouping)
    sections: tuple[SearchHit, ...]  # the best sections, at most grouping.MAX_SECTIONS; only the first has a snippet
    matched_sections: int  # every section of the SOP the query matched
    tags: tuple[str, ...] = ()
    owner: str = ""
    language: str = "en"

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    @property
    def best(self) -> SearchHit:
        return self.sections[0]

    @property
    def more_sections(self) -> int:
        """Matching sections not listed on the card."""
        return self.matched_sections - len(self.sections)


@dataclass(frozen=True)
class PinnedBulletin:
    """An open bulletin, shown above the results while it is open (whatever the query)."""

    sop_id: str
    title: str
    version: str
    url: str
    expires: datetime | None
    matched: bool  # the query also matched one of its sections (url then points there)


@dataclass
class SearchResults:
    query: str
    tier: str
    hits: list[SearchHit] = field(default_factory=list)  # one per section; grouped: the groups' sections in order
    total: int = 0  # matching sections (after filters), not just this page
    total_sops: int = 0
    # Matching sections per kind and tag; grouped: matching SOPs per kind and tag.
    facets: dict[str, dict[str, int]] = field(default_factory=lambda: {"kind": {}, "tag": {}})
    group: str = ""  # "sop" when grouped: `groups` is the page, offset and limit count SOPs
    groups: list[SearchGroup] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)  # "did you mean" queries
    pinned: list[PinnedBulletin] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)  # filters in effect (typed and passed)
    offset: int = 0
    limit: int = 10
    build_id: str = ""
    elapsed_ms: float = 0.0
    language: str = "en"  # the reader's language when its translations were searched first

    def __iter__(self):
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)
