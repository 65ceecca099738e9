"""The search core the web app and the `kb search` command call: `SearchService.search(...)`.

One service per process. It reads `<index_dir>/CURRENT` before each search (a stat call) and
reopens when a rebuild switched builds, so long-running workers pick up new SOPs without a
restart, and a search that started on the old build finishes on it.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import json
import os
import threading
import time
from collections import Counter, OrderedDict
from itertools import chain
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping

from whoosh.index import IndexError as WhooshIndexError

from kb_app.search.documents import TIERS, section_url
from kb_app.search.grouping import MAX_SECTIONS, rank_groups
from kb_app.search.index import FORMAT, POINTER, IndexNotFound, builds_dir, read_pointer
from kb_app.search.languages import LanguageIndex, index_name
from kb_app.search.query import (
    FILTER_NAMES,
    CompiledQuery,
    ParsedQuery,
    QueryBuilder,
    filter_value,
    fuzzy_distance,
    parse_query,
    suggestion_text,
)
from kb_app.search.results import PinnedBulletin, SearchGroup, SearchHit, SearchResults
from kb_app.search.snippets import snippet
from kb_app.search.synonyms import SynonymTable, load_synonyms
from kb_app.search.tier_index import TierIndex

MAX_LIMIT = 100
GROUPINGS = ("sop",)  # `group=`: "" ranks sections, "sop" ranks SOPs with their best sections
MAX_OFFSET = 1000
# Answers are kept per (build, tier, query, filters, page, language, grouping) and per stretch of
# time between two bulletin expiries of the build (the only thing the clock changes in an answer:
# an expired bulletin is no longer pinned): in a crisis hundreds of agents type the same words,
# and the same words over the same build give the same answer until a bulletin expires. The
# RESULT_CACHE_SIZE answers used last are kept.
RESULT_CACHE_SIZE = 4096
TOP_TAGS = 20

# How much matching more of the query counts: a section's score is multiplied by
# (share of the query matched) ** COORDINATION, each query word weighted by its rarity, so one
# word matched very often cannot beat a section that answers the whole question. A section
# matching less than MIN_SHARE of the query is not a result (and is not counted in totals).
COORDINATION = 1.0
MIN_SHARE = 0.3


class Build:
    """One build, opened lazily per tier."""

    def __init__(self, index_dir: Path, build_id: str):
        self.build_id = build_id
        self.path = builds_dir(index_dir) / build_id
        manifest = self.path / "manifest.json"
        if not manifest.is_file():
            raise IndexNotFound(f"search index {index_dir} names build {build_id}, which is missing: run `kb index`")
        self.manifest = json.loads(manifest.read_text(encoding="utf-8"))
        if self.manifest.get("format") != FORMAT:
            raise IndexNotFound(
                f"search index {index_dir} was built by another version (format {self.manifest.get('format')}): run `kb index`"
            )
        self._tiers: dict[str, TierIndex] = {}
        self._languages: dict[str, LanguageIndex] = {}
        self._lock = threading.Lock()

    def language(self, tier: str, language: str) -> LanguageIndex | None:
        """The index of `tier` in `language`, or None when this build has no translations in it."""
        name = index_name(tier, language)
        if name not in self.manifest.get("languages", {}):
            return None
        opened = self._languages.get(name)
        if opened is None:
            with self._lock:
                opened = self._languages.get(name)
                if opened is None:
                    opened = self._languages[name] = LanguageIndex(self.path / name, tier, language)
        return opened

    def tier(self, tier: str) -> TierIndex:
        opened = self._tiers.get(tier)
        if opened is None:
            with self._lock:
                opened = self._tiers.get(tier)
                if opened is None:
                    opened = self._tiers[tier] = TierIndex(self.path / tier, tier)
        return opened

    def close(self) -> None:
        for opened in self._tiers.values():
            opened.close()
        for language in self._languages.values():
            language.close()


class SearchService:
    """Searches the live build of an index directory, for one audience tier at a time.

    Thread-safe; share one per process. `search` raises IndexNotFound when no build exists and
    ValueError for an unknown tier; any query text, however malformed, gets an answer.
    """

    def __init__(
        self,
        index_dir: Path | str,
        *,
        synonyms: SynonymTable | None = None,
        url_prefix: str = "/sop/",
        clock: Callable[[], datetime] | None = None,
    ):
        self.index_dir = Path(index_dir)
        self.synonyms = synonyms if synonyms is not None else load_synonyms()
        self.url_prefix = url_prefix
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        self._build: Build | None = None
        self._pointer_stamp: tuple | None = None
        self._answers: OrderedDict[tuple, SearchResults] = OrderedDict()
        self._expiries: dict[tuple[str, str], list[datetime]] = {}

    # -- the live build ---------------------------------------------------------------------

    def _stamp(self) -> tuple | None:
        try:
            st = os.stat(self.index_dir / POINTER)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self, *, force: bool = False) -> Build:
        """The live build, reopened when CURRENT changed since the last call."""
        stamp = self._stamp()
        build = self._build
        if build is not None and stamp == self._pointer_stamp and not force:
            return build
        with self._lock:
            stamp = self._stamp()
            if self._build is not None and stamp == self._pointer_stamp and not force:
                return self._build
            build_id = read_pointer(self.index_dir)
            if build_id is None:
                raise IndexNotFound(f"no search index in {self.index_dir}: run `kb index` first")
            if self._build is None or self._build.build_id != build_id or force:
                # The old build is not closed here: other threads may be finishing a search on
                # it. It is released when the last of them lets go of it.
                self._build = Build(self.index_dir, build_id)
            self._pointer_stamp = stamp
            return self._build

    def warm(self, tiers: Iterable[str] = TIERS) -> None:
        """Open the live build's tiers ahead of the first search (call at worker start-up)."""
        build = self.current()
        for tier in tiers:
            build.tier(tier).warm()

    def info(self) -> dict:
        """The live build's manifest (build id, time, SOP and section counts per tier)."""
        return dict(self.current().manifest)

    def close(self) -> None:
        with self._lock:
            if self._build is not None:
                self._build.close()
            self._build, self._pointer_stamp = None, None

    # -- searching --------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        tier: str = "T1",
        limit: int = 10,
        offset: int = 0,
        filters: Mapping[str, str | Iterable[str]] | None = None,
        now: datetime | None = None,
        language: str | None = None,
        group: str | None = None,
    ) -> SearchResults:
        """Search `tier`'s index. With `language`, sections of translations in that language come
        first (ranked by that language's analyzer), then the source-language results.

        With `group="sop"` the results are SOPs (`results.groups`, each with its best sections),
        `offset` and `limit` count SOPs, and facets count SOPs; `results.hits` then holds the
        listed sections in page order. Without it, one hit per section, as always."""
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r} (expected one of {', '.join(TIERS)})")
        group = group or ""
        if group and group not in GROUPINGS:
            raise ValueError(f"unknown grouping {group!r} (expected one of {', '.join(GROUPINGS)})")
        started = time.perf_counter()
        limit = max(1, min(int(limit), MAX_LIMIT))
        offset = max(0, min(int(offset), MAX_OFFSET))
        parsed = parse_query(query)
        _merge_filters(parsed, filters)
        now = now or self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)  # naive times are taken as UTC, like the SOP files
        build = self.current()
        try:
            expired = self._expired_by(build, tier, now)
        except (OSError, EOFError, WhooshIndexError):
            # The build was pruned before this tier of it was opened: the live one answers.
            build = self.current(force=True)
            expired = self._expired_by(build, tier, now)
        key = (
            build.build_id,
            tier,
            query,
            tuple(sorted((name, tuple(sorted(values))) for name, values in parsed.filters.items())),
            limit,
            offset,
            language or "",
            group,
            expired,
        )
        with self._lock:
            known = self._answers.get(key)
            if known is not None:
                self._answers.move_to_end(key)
        if known is not None:
            return _fresh_copy(known, elapsed_ms=(time.perf_counter() - started) * 1000)
        try:
            results = self._search(build, parsed, tier, limit, offset, now, group)
        except (OSError, EOFError, WhooshIndexError):
            # The build was pruned under us (two rebuilds during one search): reopen and retry once.
            results = self._search(self.current(force=True), parsed, tier, limit, offset, now, group)
        if language and not parsed.filters and offset == 0:
            if group:
                self._groups_with_language(results, query, tier, language, limit)
            else:
                self._with_language(results, query, tier, language, limit)
        results.elapsed_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            self._answers[key] = _fresh_copy(results, elapsed_ms=results.elapsed_ms)
            while len(self._answers) > RESULT_CACHE_SIZE:
                self._answers.popitem(last=False)
        return results

    def _expired_by(self, build: Build, tier: str, now: datetime) -> int:
        """How many of the build's bulletins for `tier` have expired at `now`: answers at two
        moments with the same count pin the same bulletins, so they are the same answer."""
        found = self._expiries.get((build.build_id, tier))
        if found is None:
            found = sorted(
                datetime.fromisoformat(entry["expires"])
                for entry in build.tier(tier).meta.get("bulletin_list", [])
                if entry.get("expires")
            )
            with self._lock:
                if len(self._expiries) > 64:  # builds of long ago
                    self._expiries.clear()
                self._expiries[(build.build_id, tier)] = found
        return bisect.bisect_right(found, now)

    def _with_language(self, results: SearchResults, query: str, tier: str, language: str, limit: int) -> None:
        """Put the language's own hits first; source-language hits for other pages fill the rest."""
        index = self.current().language(tier, language)
        if index is None:
            return
        translated = index.search(query, limit=limit, url_prefix=self.url_prefix)
        if not translated:
            return
        seen = {(h.sop_id, h.anchor) for h in translated}
        translated_sops = {h.sop_id for h in translated}
        rest = [h for h in results.hits if (h.sop_id, h.anchor) not in seen and h.sop_id not in translated_sops]
        results.hits = (translated + rest)[:limit]
        results.total = max(results.total, len(results.hits))
        results.language = language

    def _groups_with_language(self, results: SearchResults, query: str, tier: str, language: str, limit: int) -> None:
        """Grouped: SOPs with sections in the reader's language first, then the other SOPs."""
        index = self.current().language(tier, language)
        if index is None:
            return
        translated = index.search(query, limit=limit * MAX_SECTIONS, url_prefix=self.url_prefix)
        if not translated:
            return
        sections: dict[str, list[SearchHit]] = {}
        for hit in translated:
            sections.setdefault(hit.sop_id, []).append(hit)
        groups = [_group_of(hits[:MAX_SECTIONS], len(hits), hits[0].score) for hits in sections.values()]
        rest = [g for g in results.groups if g.sop_id not in sections]
        results.groups = (groups + rest)[:limit]
        results.hits = [hit for g in results.groups for hit in g.sections]
        results.total = max(results.total, len(results.hits))
        results.total_sops = max(results.total_sops, len(results.groups))
        results.language = language

    def _search(
        self,
        build: Build,
        parsed: ParsedQuery,
        tier: str,
        limit: int,
        offset: int,
        now: datetime,
        group: str = "",
    ) -> SearchResults:
        index = build.tier(tier)
        results = SearchResults(
            query=parsed.text,
            tier=tier,
            offset=offset,
            limit=limit,
            build_id=build.build_id,
            filters={name: sorted(values) for name, values in parsed.filters.items()},
            group=group,
        )
        compiled = QueryBuilder(index, self.synonyms).compile(parsed)
        allowed = _allowed_documents(index, parsed.filters)
        searcher = index.searcher()
        if compiled.clauses:
            scores = _score(index, compiled.clauses, allowed)
        elif parsed.filters:
            scores = dict.fromkeys(sorted(allowed), 0.0) if allowed is not None else {}
        else:
            scores = {}
        matched = set(scores)
        results.total = len(matched)
        if group:
            ranking = rank_groups(
                scores, index.sop_number, lambda doc: index.by_sop[index.sop_ids[doc]], offset=offset, limit=limit
            )
            results.total_sops = ranking.total
            results.facets = _sop_facets(index, ranking.representatives)
            for ranked_group in ranking.page:
                # A card shows its best section's snippet; the others are heading links.
                best = self._hit(searcher, ranked_group.docs[0], scores[ranked_group.docs[0]], compiled)
                hits = [best] + [_further_section(index, best, doc, scores[doc]) for doc in ranked_group.docs[1:]]
                results.groups.append(_group_of(hits, ranked_group.matched, ranked_group.score))
                results.hits.extend(hits)
        else:
            results.total_sops = len(set(map(index.sop_number.__getitem__, matched)))
            results.facets = _facets(index, matched)
            # Documents are numbered in (SOP id, section order), so the number breaks ties stably.
            ranked = heapq.nlargest(offset + limit, scores, key=scores.__getitem__)
            ranked.sort(key=lambda doc: (-scores[doc], doc))
            for doc in ranked[offset:]:
                results.hits.append(self._hit(searcher, doc, scores[doc], compiled))
        results.suggestions = _suggestions(index, parsed, compiled.unknown)
        results.pinned = self._pinned(index, scores, matched, now)
        return results

    def _hit(self, searcher, doc: int, score: float, compiled: CompiledQuery) -> SearchHit:
        fields = searcher.stored_fields(doc)
        return SearchHit(
            sop_id=fields["sop_id"],
            title=fields["title"],
            kind=fields["kind"],
            status=fields["status"],
            version=fields["version"],
            section=fields["heading"],
            anchor=fields["anchor"],
            url=section_url(fields["page"], fields["anchor"], self.url_prefix),
            snippet=snippet(fields["body"], compiled.stems, compiled.phrases),
            score=score,
            tags=tuple(t for t in fields.get("tag", "").split(",") if t),
            owner=fields.get("owner", ""),
        )

    def _pinned(
        self, index: TierIndex, scores: dict[int, float], matched: set[int], now: datetime
    ) -> list[PinnedBulletin]:
        best: dict[str, int] = {}
        for doc in sorted(matched & index.by_kind.get("bulletin", frozenset())):
            score = scores[doc]
            if score > 0:
                sop_id = index.sop_ids[doc]
                if sop_id not in best or score > scores[best[sop_id]]:
                    best[sop_id] = doc
        pinned = []
        for entry in index.meta.get("bulletin_list", []):
            expires = datetime.fromisoformat(entry["expires"]) if entry.get("expires") else None
            if entry["status"] != "active" or (expires is not None and now >= expires):
                continue
            hit = best.get(entry["sop_id"])
            anchor = _anchor_of(index.keys[hit]) if hit is not None else ""
            pinned.append(
                PinnedBulletin(
                    sop_id=entry["sop_id"],
                    title=entry["title"],
                    version=entry["version"],
                    url=section_url(entry["page"], anchor, self.url_prefix),
                    expires=expires,
                    matched=hit is not None,
                )
            )
        pinned.sort(key=lambda p: (not p.matched, p.sop_id))
        return pinned


def _further_section(index: TierIndex, best: SearchHit, doc: int, score: float) -> SearchHit:
    """Another section of the best hit's SOP, as a card lists it: heading and link, no snippet."""
    anchor = _anchor_of(index.keys[doc])
    page_url = best.url.split("#", 1)[0]
    return dataclasses.replace(
        best,
        section=index.heading(doc),
        anchor=anchor,
        url=f"{page_url}#{anchor}" if anchor else page_url,
        snippet="",
        score=score,
    )


def _group_of(hits: list[SearchHit], matched: int, score: float) -> SearchGroup:
    best = hits[0]
    return SearchGroup(
        sop_id=best.sop_id,
        title=best.title,
        kind=best.kind,
        status=best.status,
        version=best.version,
        url=best.url.split("#", 1)[0],
        score=score,
        sections=tuple(hits),
        matched_sections=matched,
        tags=best.tags,
        owner=best.owner,
        language=best.language,
    )


def _anchor_of(key: str) -> str:
    return key.split("#", 1)[1] if "#" in key else ""


def _merge_filters(parsed: ParsedQuery, filters: Mapping[str, str | Iterable[str]] | None) -> None:
    """Filters passed by the caller (facet links, form fields) narrow like typed ones."""
    for raw_name, raw_values in (filters or {}).items():
        name = FILTER_NAMES.get(str(raw_name).lower())
        if name is None:
            raise ValueError(f"unknown filter {raw_name!r} (expected one of tag, kind, tier, id, status)")
        values = [raw_values] if isinstance(raw_values, str) else list(raw_values or [])
        cleaned = {v for v in (filter_value(name, str(value)) for value in values) if v}
        if not cleaned and values:
            cleaned = {"\x00no-such-value"}  # an impossible value asked for: match nothing
        if cleaned:
            parsed.filters.setdefault(name, set()).update(cleaned)


def _allowed_documents(index: TierIndex, filters: dict[str, set[str]]) -> set[int] | None:
    """Documents passing every filter (None: no filter). Values of one filter widen, filters narrow."""
    if not filters:
        return None
    allowed: set[int] | None = None
    for name, values in filters.items():
        if name == "id":
            exact = [index.by_sop.get(v, frozenset()) for v in values if not v.endswith("*")]
            prefixes = tuple(v.rstrip("*") for v in values if v.endswith("*"))
            exact += [docs for sop_id, docs in index.by_sop.items() if prefixes and sop_id.startswith(prefixes)]
            groups = exact
        else:
            table = {"kind": index.by_kind, "status": index.by_status, "tag": index.by_tag, "tier": index.by_tier}[name]
            groups = [table.get(value, frozenset()) for value in values]
        passing = set().union(*groups)
        allowed = passing if allowed is None else allowed & passing
    return allowed if allowed is not None else set()


def _score(index: TierIndex, clauses, allowed: set[int] | None) -> dict[int, float]:
    """Sum the clauses' scores per section, then apply coordination and demotion factors.

    Coordination: a section's score is multiplied by the share of the query it matched, each
    clause counted by its rarity, so a section answering the whole question beats one that
    repeats a single common word. A section must match at least MIN_SHARE of the query to count
    at all, which also lets the common words skip the sections that only they match.
    """
    weighted = sorted(((index.clause_scores(c), index.clause_weight(c)) for c in clauses), key=lambda item: -item[1])
    whole = sum(weight for _, weight in weighted)
    if not weighted or whole <= 0:
        return {}
    threshold = MIN_SHARE * whole
    # Clauses are strong until the ones left could not reach the threshold on their own.
    strong_count, remaining = len(weighted), 0.0
    for position in range(len(weighted) - 1, -1, -1):
        remaining += weighted[position][1]
        if remaining >= threshold:
            break
        strong_count = position
    strong, weak = weighted[:strong_count], weighted[strong_count:]
    strong.sort(key=lambda item: -len(item[0]))
    first, first_weight = strong[0]
    totals = dict(first)  # the biggest strong clause is copied at C speed; the others merged in
    matched = dict.fromkeys(first, first_weight)
    get_total, get_matched = totals.get, matched.get
    for clause_scores, weight in strong[1:]:
        for doc, score in clause_scores.items():
            totals[doc] = get_total(doc, 0.0) + score
            matched[doc] = get_matched(doc, 0.0) + weight
    docs = totals.keys() if allowed is None else totals.keys() & allowed
    for clause_scores, weight in weak:  # only for sections the strong clauses found
        if len(clause_scores) < len(docs):
            for doc, score in clause_scores.items():
                if doc in docs:
                    totals[doc] += score
                    matched[doc] += weight
        else:
            get_score = clause_scores.get
            for doc in docs:
                score = get_score(doc)
                if score is not None:
                    totals[doc] += score
                    matched[doc] += weight
    factors = index.factors
    return {
        doc: totals[doc] * factors[doc] * (matched[doc] / whole) ** COORDINATION
        for doc in docs
        if matched[doc] >= threshold
    }


def _facets(index: TierIndex, matched: set[int]) -> dict[str, dict[str, int]]:
    """Matching sections per kind and per tag (the most frequent tags)."""

    def counts(groups: dict[str, frozenset[int]]) -> list[tuple[str, int]]:
        found = ((value, len(matched & docs)) for value, docs in groups.items())
        return sorted(((value, n) for value, n in found if n), key=lambda item: (-item[1], item[0]))

    return {"kind": dict(counts(index.by_kind)), "tag": dict(counts(index.by_tag)[:TOP_TAGS])}


def _sop_facets(index: TierIndex, representatives: list[int]) -> dict[str, dict[str, int]]:
    """Matching SOPs per kind and per tag (the most frequent tags): kind and tags are the SOP's,
    so one matching section of each SOP stands for it."""
    kinds = Counter(map(index.kinds.__getitem__, representatives))
    tags = Counter(chain.from_iterable(map(index.tags.__getitem__, representatives)))

    def ordered(counts: Counter) -> list[tuple[str, int]]:
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    return {"kind": dict(ordered(kinds)), "tag": dict(ordered(tags)[:TOP_TAGS])}


def _suggestions(index: TierIndex, parsed: ParsedQuery, unknown: list[str]) -> list[str]:
    """ "Did you mean": each unknown word replaced by its closest word in this tier's vocabulary."""
    corrections = {}
    for word in unknown:
        correction = index.best_correction(word, fuzzy_distance(word))
        if correction:
            corrections[word] = correction
    suggestion = suggestion_text(parsed, corrections)
    return [suggestion] if suggestion else []


def _fresh_copy(results: SearchResults, *, elapsed_ms: float) -> SearchResults:
    """A copy whose lists and facets a caller may change without touching the kept answer."""
    return dataclasses.replace(
        results,
        hits=list(results.hits),
        groups=list(results.groups),
        suggestions=list(results.suggestions),
        pinned=list(results.pinned),
        facets={name: dict(counts) for name, counts in results.facets.items()},
        filters={name: list(values) for name, values in results.filters.items()},
        elapsed_ms=elapsed_ms,
    )
