"""Turning what an agent types into query clauses over the index: forgiving, never an error.

The query language is small on purpose:

- words, combined by relevance (more of them matched ranks higher; AND, OR, NOT are ignored);
- "quoted phrases";
- `word*` for a prefix;
- filters `tag:`, `kind:`, `tier:`, `id:` (also `id:ESC-*`), `status:`; several values of one
  filter widen it, different filters narrow together.

Anything else (unbalanced quotes, a lone `*` or `(`, control characters, very long input) is
reduced to the words it contains. Each query word becomes one *clause*: its stem in heading,
title, tags and body, plus, weighted lower, the members of its synonym group and, when the
word is not in the index's vocabulary, prefix completions and spelling neighbours. A run of
words naming a multi-word synonym ("fake login page") adds a clause for the phrase and its
alternatives. The service scores the clauses with BM25F and combines them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from kb_app.search.analysis import clean_text, stem, words
from kb_app.search.synonyms import SynonymTable

MAX_QUERY_CHARS = 300
MAX_WORDS = 16
MAX_PHRASES = 4
MAX_FILTER_VALUES = 8

FIELD_WEIGHTS = {"heading": 2.0, "title": 1.0, "tags": 1.0, "body": 1.0}
PHRASE_FIELDS = ("heading", "title", "body")
PHRASE_WEIGHT = 1.5  # a quoted phrase: the agent asked for these words together
SYNONYM_WEIGHT = 0.5
PREFIX_WEIGHT = 0.4  # completions of an unknown partial word ("verif" -> "verification")
EXPLICIT_PREFIX_WEIGHT = 0.8  # `verif*`
FUZZY_WEIGHTS = {1: 0.3, 2: 0.15}
MAX_EXPANSIONS = 6

FILTER_NAMES = {
    "tag": "tag",
    "tags": "tag",
    "kind": "kind",
    "type": "kind",
    "tier": "tier",
    "id": "id",
    "status": "status",
}
TIER_VALUES = {"T1": "T1", "1": "T1", "TIER1": "T1", "T2": "T2", "2": "T2", "TIER2": "T2"}
OPERATORS = {"AND", "OR", "NOT", "&&", "||"}

_TOKEN = re.compile(
    r'(?P<field>[A-Za-z]+):(?:"(?P<fquoted>[^"]*)"?|(?P<fvalue>[^\s"]*))'
    r'|"(?P<phrase>[^"]*)"?'
    r"|(?P<word>[^\s\"]+)"
)


@dataclass(frozen=True)
class Chunk:
    kind: str  # "words" | "phrase" | "prefix"
    text: str


@dataclass
class ParsedQuery:
    text: str  # the cleaned query
    chunks: list[Chunk] = field(default_factory=list)
    filters: dict[str, set[str]] = field(default_factory=dict)

    @property
    def has_terms(self) -> bool:
        return any(words(chunk.text) for chunk in self.chunks)

    def free_words(self) -> list[str]:
        return [w for chunk in self.chunks if chunk.kind == "words" for w in words(chunk.text)]


def parse_query(text: str) -> ParsedQuery:
    """Split a raw query into word runs, phrases, prefixes and filters. Never raises."""
    cleaned = clean_text(str(text or ""))[:MAX_QUERY_CHARS].strip()
    parsed = ParsedQuery(cleaned)
    run: list[str] = []

    def flush() -> None:
        if run:
            parsed.chunks.append(Chunk("words", " ".join(run)))
            run.clear()

    phrases = 0
    for match in _TOKEN.finditer(cleaned):
        if match.group("field") is not None:
            name = FILTER_NAMES.get(match.group("field").lower())
            value = match.group("fquoted") if match.group("fquoted") is not None else match.group("fvalue")
            if name is None:
                run.append(f"{match.group('field')} {value or ''}")
                continue
            normalized = filter_value(name, value or "")
            if normalized:
                values = parsed.filters.setdefault(name, set())
                if len(values) < MAX_FILTER_VALUES:
                    values.add(normalized)
        elif match.group("phrase") is not None:
            flush()
            if phrases < MAX_PHRASES and words(match.group("phrase")):
                parsed.chunks.append(Chunk("phrase", match.group("phrase")))
                phrases += 1
            else:
                run.append(match.group("phrase"))
        else:
            word = match.group("word")
            if word.upper() in OPERATORS:
                continue
            prefix = word.rstrip("*")
            if (
                word.endswith("*")
                and len(words(prefix)) == 1
                and len(words(prefix)[0]) >= 2
                and re.fullmatch(r"\W*\w+", prefix)
            ):
                flush()
                parsed.chunks.append(Chunk("prefix", words(prefix)[0]))
            else:
                run.append(word.replace("*", " ").replace("?", " "))
    flush()
    return parsed


def filter_value(name: str, value: str) -> str:
    """A filter value as the index spells it ("" when it cannot be one: tier:T9)."""
    value = value.strip().strip("\"'()[]{},;")
    if not value:
        return ""
    if name == "tier":
        return TIER_VALUES.get(value.upper().replace(" ", ""), "")
    if name == "id":
        return value.upper()
    return value.lower()


@dataclass(frozen=True)
class Leaf:
    """One thing to look up in the index: a stem (or a phrase of stems) in one field, weighted."""

    field: str
    stems: tuple[str, ...]
    boost: float


@dataclass(frozen=True)
class Clause:
    """One word (or phrase) of the query and its alternatives; a section's clause score is the
    sum of its leaves' BM25F scores, and the service counts how many clauses a section matched."""

    leaves: tuple[Leaf, ...]


def _or(*groups: tuple[Leaf, ...] | list[Leaf]) -> tuple[Leaf, ...]:
    merged: dict[tuple[str, tuple[str, ...]], float] = {}
    for group in groups:
        for leaf in group:
            key = (leaf.field, leaf.stems)
            merged[key] = max(merged.get(key, 0.0), leaf.boost)  # the best reading of a term counts once
    return tuple(Leaf(field, stems, boost) for (field, stems), boost in merged.items())


class Vocabulary(Protocol):
    """What the builder needs from a tier's index: which words exist, and their neighbours."""

    def knows(self, word: str) -> bool: ...

    def completions(self, prefix: str, limit: int) -> list[str]: ...

    def neighbours(self, word: str, maxdist: int, limit: int) -> list[tuple[str, int]]: ...


@dataclass
class CompiledQuery:
    """Clauses to score and combine, and the stems they search (for snippet marks)."""

    clauses: list[Clause] = field(default_factory=list)
    stems: set[str] = field(default_factory=set)  # single searched stems
    phrases: set[tuple[str, ...]] = field(default_factory=set)  # searched phrases (marked only whole)
    unknown: list[str] = field(default_factory=list)  # words with no match in this index's vocabulary


def fuzzy_distance(word: str) -> int:
    """Typos allowed: none below 4 letters, one edit from 4, two from 8."""
    return 0 if len(word) < 4 else 1 if len(word) < 8 else 2


class QueryBuilder:
    def __init__(self, vocabulary: Vocabulary, synonyms: SynonymTable):
        self.vocabulary = vocabulary
        self.synonyms = synonyms

    def compile(self, parsed: ParsedQuery) -> CompiledQuery:
        compiled = CompiledQuery()
        budget = MAX_WORDS
        for chunk in parsed.chunks:
            if budget <= 0:
                break
            if chunk.kind == "phrase":
                stems = tuple(stem(w) for w in words(chunk.text))[:budget]
                budget -= len(stems)
                compiled.clauses.append(Clause(_or(self._phrase(stems, PHRASE_WEIGHT, compiled))))
            elif chunk.kind == "prefix":
                budget -= 1
                leaves = self._prefix(chunk.text, EXPLICIT_PREFIX_WEIGHT, compiled)
                if leaves:
                    compiled.clauses.append(Clause(_or(leaves)))
            else:
                chunk_words = words(chunk.text)[:budget]
                budget -= len(chunk_words)
                compiled.clauses.extend(self._word_run(chunk_words, compiled))
        return compiled

    # -- leaf makers -----------------------------------------------------------------------

    def _term(self, term_stem: str, boost: float, compiled: CompiledQuery) -> list[Leaf]:
        compiled.stems.add(term_stem)
        return [Leaf(name, (term_stem,), weight * boost) for name, weight in FIELD_WEIGHTS.items()]

    def _phrase(self, stems: tuple[str, ...], boost: float, compiled: CompiledQuery) -> list[Leaf]:
        if len(stems) == 1:
            return self._term(stems[0], boost, compiled)
        compiled.phrases.add(tuple(stems))
        return [Leaf(name, tuple(stems), FIELD_WEIGHTS[name] * boost) for name in PHRASE_FIELDS]

    def _word_run(self, run: list[str], compiled: CompiledQuery) -> list[Clause]:
        stems = [stem(w) for w in run]
        matches = {m.start: m for m in self.synonyms.match(stems)}
        in_span: set[int] = set()
        clauses: list[Clause] = []
        for match in matches.values():
            if match.end - match.start > 1:
                in_span.update(range(match.start, match.end))
                alternatives = [self._phrase(alt, SYNONYM_WEIGHT, compiled) for alt in match.alternatives]
                clauses.append(Clause(_or(self._phrase(match.phrase, 1.0, compiled), *alternatives)))
        for position, (word, word_stem) in enumerate(zip(run, stems)):
            parts = [self._term(word_stem, 1.0, compiled)]
            match = matches.get(position)
            if match is not None and match.end - match.start == 1:
                parts.extend(self._phrase(alt, SYNONYM_WEIGHT, compiled) for alt in match.alternatives)
            elif position not in in_span and not self._known(word, word_stem):
                compiled.unknown.append(word)
                parts.extend(self._forgiving(word, compiled))
            clauses.append(Clause(_or(*parts)))
        return clauses

    def _known(self, word: str, word_stem: str) -> bool:
        return self.vocabulary.knows(word) or (word_stem,) in self.synonyms

    def _forgiving(self, word: str, compiled: CompiledQuery) -> list[list[Leaf]]:
        """Alternatives for a word the index does not contain: completions, then typo neighbours."""
        parts: list[list[Leaf]] = []
        seen = {stem(word)}
        if len(word) >= 3:
            for completion in self.vocabulary.completions(word, MAX_EXPANSIONS):
                completion_stem = stem(completion)
                if completion_stem not in seen:
                    seen.add(completion_stem)
                    parts.append(self._term(completion_stem, PREFIX_WEIGHT, compiled))
        maxdist = fuzzy_distance(word)
        if maxdist:
            for neighbour, distance in self.vocabulary.neighbours(word, maxdist, MAX_EXPANSIONS):
                neighbour_stem = stem(neighbour)
                if neighbour_stem not in seen:
                    seen.add(neighbour_stem)
                    parts.append(self._term(neighbour_stem, FUZZY_WEIGHTS[distance], compiled))
                    # A corrected word still brings its synonyms, a little lower again.
                    for alternative in self.synonyms.alternatives((neighbour_stem,)):
                        parts.append(self._phrase(alternative, FUZZY_WEIGHTS[distance] * SYNONYM_WEIGHT, compiled))
        return parts

    def _prefix(self, prefix: str, boost: float, compiled: CompiledQuery) -> list[Leaf]:
        stems = {stem(prefix)}
        for completion in self.vocabulary.completions(prefix, MAX_EXPANSIONS * 2):
            stems.add(stem(completion))
        return [leaf for s in sorted(stems) for leaf in self._term(s, boost, compiled)]


def suggestion_text(parsed: ParsedQuery, corrections: dict[str, str]) -> str | None:
    """The query with each misspelt word replaced, or None when nothing changed."""
    if not corrections:
        return None
    text = parsed.text
    for wrong, right in corrections.items():
        text = re.sub(rf"(?<!\w){re.escape(wrong)}(?!\w)", right, text, flags=re.IGNORECASE)
    return text if text != parsed.text else None
