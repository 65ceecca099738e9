"""The domain synonym and acronym table (kb_app/data/synonyms.yml), parsed once and matched on stems.

A group lists words and phrases that mean the same thing to an agent ("2fa", "two-step",
"mfa"). Terms are kept as tuples of stems, so "hacked", "hacking" and "Hacked!" all find the
same group, and a multi-word member ("fake login page") matches as a phrase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from kb_app.search.analysis import terms

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "synonyms.yml"

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class SynonymGroup:
    name: str
    phrases: tuple[Phrase, ...]
    one_way: bool = False

    def keys(self) -> tuple[Phrase, ...]:
        """The phrases that trigger this group: all of them, or only the first when one-way."""
        return self.phrases[:1] if self.one_way else self.phrases


@dataclass(frozen=True)
class SynonymMatch:
    """A run of query stems [start, end) that names a group member, and what else to search for."""

    start: int
    end: int
    phrase: Phrase
    alternatives: tuple[Phrase, ...]


@dataclass
class SynonymTable:
    groups: list[SynonymGroup] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_key: dict[Phrase, list[SynonymGroup]] = {}
        for group in self.groups:
            for key in group.keys():  # noqa: SIM118 - SynonymGroup.keys() is its own method, not a dict view
                self._by_key.setdefault(key, []).append(group)
        self.longest = max((len(k) for k in self._by_key), default=0)

    def __len__(self) -> int:
        return len(self.groups)

    def __contains__(self, phrase: Phrase) -> bool:
        return phrase in self._by_key

    def alternatives(self, phrase: Phrase) -> tuple[Phrase, ...]:
        seen: dict[Phrase, None] = {}
        for group in self._by_key.get(phrase, ()):
            for other in group.phrases:
                if other != phrase:
                    seen.setdefault(other, None)
        return tuple(seen)

    def match(self, stems: list[str]) -> list[SynonymMatch]:
        """Greedy, longest-first, left-to-right matches of group members in a list of stems."""
        found: list[SynonymMatch] = []
        position = 0
        while position < len(stems):
            for length in range(min(self.longest, len(stems) - position), 0, -1):
                phrase = tuple(stems[position : position + length])
                if phrase in self._by_key:
                    found.append(SynonymMatch(position, position + length, phrase, self.alternatives(phrase)))
                    position += length
                    break
            else:
                position += 1
        return found


def parse_synonyms(data: object, source: str = "synonyms") -> SynonymTable:
    """Build a table from the YAML structure; a malformed file raises ValueError naming the group."""
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise ValueError(f"{source}: expected a mapping with a `groups` list")
    groups = []
    for number, raw in enumerate(data["groups"], start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("terms"), list) or len(raw["terms"]) < 2:
            raise ValueError(f"{source}: group {number} needs `terms`, a list of at least two words or phrases")
        name = str(raw.get("name") or f"group {number}")
        phrases: dict[Phrase, None] = {}
        for term in raw["terms"]:
            phrase = tuple(terms(str(term)))
            if not phrase:
                raise ValueError(f"{source}: group {name!r}: term {term!r} has no searchable words (only stop words?)")
            if len(phrase) == 1 and len(str(term).replace("-", " ").split()) > 1:
                # "log in" would be just "log" (as in "change log"): a phrase reduced to one
                # common word by its stop words would expand every query containing that word.
                raise ValueError(
                    f"{source}: group {name!r}: term {term!r} is only {phrase[0]!r} once stop words are removed; write the single word or a longer phrase"
                )
            phrases.setdefault(phrase, None)
        groups.append(SynonymGroup(name, tuple(phrases), bool(raw.get("one_way", False))))
    return SynonymTable(groups)


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> SynonymTable:
    text = Path(path).read_text(encoding="utf-8")
    return parse_synonyms(yaml.safe_load(text), path)


def load_synonyms(path: Path | str | None = None) -> SynonymTable:
    """The parsed table, cached until the file changes."""
    file = Path(path) if path is not None else DEFAULT_PATH
    return _load(str(file), file.stat().st_mtime_ns)
