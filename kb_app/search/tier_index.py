"""One audience tier's index, opened for reading: the Whoosh index plus its side tables.

A `TierIndex` knows only its own tier's documents and words, so anything derived from it
(results, counts, facets, completions, spelling suggestions) cannot mention another tier's text.
"""

from __future__ import annotations

import bisect
import math
import json
import threading
from collections import OrderedDict, defaultdict
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.query import Phrase
from whoosh.scoring import BM25F

from kb_app.search.analysis import stem
from kb_app.search.query import FIELD_WEIGHTS, Clause, Leaf

CACHE_SIZE = 4096
POSTINGS_CACHE_SIZE = 8192
CLAUSE_CACHE_SIZE = 2048
BM25_K1 = 1.2  # Whoosh's BM25F defaults; the searcher is opened with the same
BM25_B = 0.75


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of neighbours is one edit); `limit + 1` when over."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        best = current[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if previous2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            best = min(best, value)
        if best > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1] if previous[-1] <= limit else limit + 1


def _bigrams(word: str) -> frozenset[str]:
    padded = f"^{word}$"
    return frozenset(padded[i : i + 2] for i in range(len(padded) - 1))


def _walk(matcher) -> tuple[tuple[int, ...], tuple[float, ...]]:
    docs: list[int] = []
    scores: list[float] = []
    while matcher.is_active():
        docs.append(matcher.id())
        scores.append(matcher.score())
        matcher.next()
    return tuple(docs), tuple(scores)


class _Cache(OrderedDict):
    """A small LRU-ish cache (oldest insert evicted first). Safe enough under the GIL: a race only
    means computing a value twice."""

    def __init__(self, size: int = CACHE_SIZE):
        super().__init__()
        self.size = size

    def remember(self, key, value):
        self[key] = value
        while len(self) > self.size:
            try:
                self.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                break
        return value


def _group(values: list[str]) -> dict[str, frozenset[int]]:
    groups: dict[str, set[int]] = defaultdict(set)
    for doc, value in enumerate(values):
        groups[value].add(doc)
    return {value: frozenset(docs) for value, docs in groups.items()}


def _group_many(values: list[list[str]]) -> dict[str, frozenset[int]]:
    groups: dict[str, set[int]] = defaultdict(set)
    for doc, items in enumerate(values):
        for value in items:
            groups[value].add(doc)
    return {value: frozenset(docs) for value, docs in groups.items()}


class TierIndex:
    """The documents of one tier in one build. Searchers are per thread (Whoosh's are not shared)."""

    def __init__(self, path: Path, tier: str):
        self.path = Path(path)
        self.tier = tier
        self.ix = whoosh_index.open_dir(str(self.path))
        table = json.loads((self.path / "docs.json").read_text(encoding="utf-8"))
        self.keys: list[str] = table["key"]
        self.sop_ids: list[str] = table["sop_id"]
        self.kinds: list[str] = table["kind"]
        self.statuses: list[str] = table["status"]
        self.tags: list[list[str]] = table["tags"]
        self.audience: list[list[str]] = table["tiers"]
        self.factors: list[float] = table["factor"]
        self.orders: list[int] = table["order"]
        self.meta: dict = json.loads((self.path / "tier.json").read_text(encoding="utf-8"))
        # Document sets per filter value, for filters, facets and pins at C speed (set algebra).
        self.by_kind = _group(self.kinds)
        self.by_status = _group(self.statuses)
        self.by_sop = _group(self.sop_ids)
        sop_numbers = {sop_id: number for number, sop_id in enumerate(self.by_sop)}
        self.sop_number = [sop_numbers[sop_id] for sop_id in self.sop_ids]  # doc -> small int, for counting SOPs
        self.by_tag = _group_many(self.tags)
        self.by_tier = _group_many(self.audience)
        self.df: dict[str, int] = json.loads((self.path / "vocab.json").read_text(encoding="utf-8"))
        self.sorted_words = sorted(self.df)
        self.stems = {stem(word) for word in self.df}
        self._by_start: dict[tuple[str, int], list[tuple[str, frozenset[str]]]] | None = None
        self._neighbours = _Cache()
        self._completions = _Cache()
        self._postings = _Cache(POSTINGS_CACHE_SIZE)
        self._clauses = _Cache(CLAUSE_CACHE_SIZE)
        self._weights = _Cache(CLAUSE_CACHE_SIZE)
        self._headings = _Cache(CACHE_SIZE)
        self._field_norms: dict[str, list[float]] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._searchers: list = []
        with self.ix.reader() as reader:
            if reader.doc_count_all() != len(self.keys):
                raise ValueError(f"{self.path}: index holds {reader.doc_count_all()} documents, table {len(self.keys)}")

    def __len__(self) -> int:
        return len(self.keys)

    # -- searching -------------------------------------------------------------------------

    def searcher(self):
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self.ix.searcher(weighting=BM25F(B=BM25_B, K1=BM25_K1))
            self._local.searcher = searcher
            with self._lock:
                self._searchers.append(searcher)
        return searcher

    def heading(self, doc: int) -> str:
        """A section's heading (cached: a grouped search lists further sections by heading only)."""
        heading = self._headings.get(doc)
        if heading is None:
            heading = self._headings.remember(doc, self.searcher().stored_fields(doc)["heading"])
        return heading

    def postings(self, leaf: Leaf) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """Documents containing the leaf's term (or phrase) and their BM25F scores, boost 1.

        Scores depend only on the index, which never changes under a build, so they are cached;
        common words cost one walk of their posting list per process and build.
        """
        key = (leaf.field, leaf.stems)
        cached = self._postings.get(key)
        if cached is not None:
            return cached
        searcher = self.searcher()
        if len(leaf.stems) == 1:
            btext = leaf.stems[0].encode("utf-8")
            if (leaf.field, btext) not in searcher.reader():
                found: tuple[tuple[int, ...], tuple[float, ...]] = ((), ())
            else:
                found = self._term_postings(searcher, leaf.field, leaf.stems[0], btext)
        else:
            found = _walk(Phrase(leaf.field, list(leaf.stems)).matcher(searcher, searcher.context()))
        return self._postings.remember(key, found)

    def _term_postings(self, searcher, field: str, text: str, btext: bytes):
        """BM25F scores of one term's postings, computed a block at a time.

        Same formula and statistics as Whoosh's BM25F scorer, without a Python call per posting
        through its matcher; falls back to the matcher when the codec is not the one expected.
        """
        matcher = searcher.postings(field, btext)
        if not all(hasattr(matcher, name) for name in ("_read_ids", "_read_weights", "_next_block", "_atend")):
            return _walk(matcher)
        norms = self._norms(searcher, field)
        idf = searcher.idf(field, text)
        k1_plus_1 = BM25_K1 + 1
        docs: list[int] = []
        scores: list[float] = []
        while matcher.is_active():
            matcher._read_ids()
            matcher._read_weights()
            block_ids = matcher._ids
            docs.extend(block_ids)
            scores.extend(idf * tf * k1_plus_1 / (tf + norms[doc]) for doc, tf in zip(block_ids, matcher._weights))
            matcher._next_block()
        return tuple(docs), tuple(scores)

    def _norms(self, searcher, field: str) -> list[float]:
        """Per document, BM25's length normalisation K1 * (1 - B + B * length / average length)."""
        norms = self._field_norms.get(field)
        if norms is None:
            reader = searcher.reader()
            average = searcher.avg_field_length(field) or 1
            lengths = [reader.doc_field_length(doc, field, 1) or 1 for doc in range(len(self))]
            norms = self._field_norms[field] = [
                BM25_K1 * ((1 - BM25_B) + BM25_B * length / average) for length in lengths
            ]
        return norms

    def clause_scores(self, clause: Clause) -> dict[int, float]:
        """Document -> summed score of the clause's leaves (cached: agents repeat their words)."""
        cached = self._clauses.get(clause)
        if cached is not None:
            return cached
        totals: dict[int, float] = {}
        get = totals.get
        for leaf in clause.leaves:
            docs, scores = self.postings(leaf)
            boost = leaf.boost
            for doc, score in zip(docs, scores):
                totals[doc] = get(doc, 0.0) + score * boost
        return self._clauses.remember(clause, totals)

    def clause_weight(self, clause: Clause) -> float:
        """How much matching this clause says about a section: the rarity (idf) of its strongest
        reading that occurs here, so "police" counts for more than "needs" when coordinating."""
        cached = self._weights.get(clause)
        if cached is not None:
            return cached
        readings: dict[tuple[str, ...], tuple[float, set[int]]] = {}
        for leaf in clause.leaves:
            docs, _ = self.postings(leaf)
            strength = leaf.boost / FIELD_WEIGHTS.get(leaf.field, 1.0)
            previous_strength, found = readings.get(leaf.stems, (0.0, set()))
            found.update(docs)
            readings[leaf.stems] = (max(previous_strength, strength), found)
        present = [(strength, len(found)) for strength, found in readings.values() if found]
        if not present:
            return self._weights.remember(clause, 0.0)
        _, df = max(present)
        return self._weights.remember(clause, math.log(1 + len(self) / df))

    def close(self) -> None:
        with self._lock:
            searchers, self._searchers = self._searchers, []
        for searcher in searchers:
            try:
                searcher.close()
            except Exception:  # noqa: BLE001 - closing is best effort; another thread may hold it
                pass

    # -- vocabulary (the Vocabulary protocol of kb_app.search.query) ---------------------------

    def knows(self, word: str) -> bool:
        return word in self.df or stem(word) in self.stems

    def completions(self, prefix: str, limit: int) -> list[str]:
        """Longer words starting with `prefix`, most frequent first."""
        key = (prefix, limit)
        cached = self._completions.get(key)
        if cached is not None:
            return cached
        start = bisect.bisect_left(self.sorted_words, prefix)
        found = []
        for word in self.sorted_words[start : start + 2000]:
            if not word.startswith(prefix):
                break
            if word != prefix:
                found.append(word)
        found.sort(key=lambda w: (-self.df[w], w))
        return self._completions.remember(key, found[:limit])

    def neighbours(self, word: str, maxdist: int, limit: int) -> list[tuple[str, int]]:
        """Words within `maxdist` edits sharing the first letter: (word, distance), closest and most frequent first."""
        key = (word, maxdist, limit)
        cached = self._neighbours.get(key)
        if cached is not None:
            return cached
        buckets = self._buckets()
        found = []
        if word:
            wanted = _bigrams(word)
            # One edit changes at most three of a word's bigrams, so a candidate sharing fewer
            # cannot be close: a set intersection rules out most words before the edit distance.
            needed = len(wanted) - 3 * maxdist
            for length in range(max(1, len(word) - maxdist), len(word) + maxdist + 1):
                for candidate, bigrams in buckets.get((word[0], length), ()):
                    if len(wanted & bigrams) < needed:
                        continue
                    distance = edit_distance(word, candidate, maxdist)
                    if 0 < distance <= maxdist:
                        found.append((candidate, distance))
        found.sort(key=lambda item: (item[1], -self.df[item[0]], item[0]))
        return self._neighbours.remember(key, found[:limit])

    def _buckets(self) -> dict[tuple[str, int], list[tuple[str, frozenset[str]]]]:
        """Vocabulary words by (first letter, length), with their bigrams, for typo look-ups."""
        if self._by_start is None:
            by_start: dict[tuple[str, int], list[tuple[str, frozenset[str]]]] = defaultdict(list)
            for known in self.sorted_words:
                by_start[(known[0], len(known))].append((known, _bigrams(known)))
            self._by_start = dict(by_start)
        return self._by_start

    def warm(self) -> None:
        """Do now the one-time work a first search would do: searcher, length norms, typo table."""
        searcher = self.searcher()
        for field in FIELD_WEIGHTS:
            self._norms(searcher, field)
        self._buckets()

    def best_correction(self, word: str, maxdist: int) -> str | None:
        neighbours = self.neighbours(word, maxdist, 1)
        return neighbours[0][0] if neighbours else None
