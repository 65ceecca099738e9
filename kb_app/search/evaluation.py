"""Measuring relevance: MRR@10 and recall@5 of a search function over judged queries.

A judged query names the sections that answer it as `SOP-ID#anchor` (or just `SOP-ID` when any
section of that SOP will do). The same code scores our engine in the tests and other engines
in bench/search.py, so the figures compare like with like.

A grouped search (one card per SOP, its best sections beneath it) is measured two ways:

- `grouped_keys`: the cards' listed sections in reading order, each one a rank, exactly as the
  sections of an ungrouped search are counted. This is the like-for-like figure: grouping only
  wins where it brings an answer closer to the top of the list an agent reads.
- `evaluate_cards`: each card is one rank, and it answers when one of its listed sections does
  (or, for a bare `SOP-ID` answer, when it is that SOP). This is how many results an agent
  passes before the right procedure; recall@5 then counts the sections on the first five cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import yaml

MRR_DEPTH = 10
RECALL_DEPTH = 5

# (query, tier) -> ranked section keys "SOP-ID#anchor"
SearchFunction = Callable[[str, str], list[str]]
# (query, tier) -> ranked cards, each the section keys it lists, best first
CardSearchFunction = Callable[[str, str], list[list[str]]]


def section_keys(results) -> list[str]:
    """The ranked section keys of a SearchResults (its hits, in order)."""
    return [f"{hit.sop_id}#{hit.anchor}" for hit in results.hits]


def grouped_keys(results) -> list[str]:
    """A grouped SearchResults read top to bottom: each card's listed sections in order."""
    return [f"{hit.sop_id}#{hit.anchor}" for group in results.groups for hit in group.sections]


def card_keys(results) -> list[list[str]]:
    """A grouped SearchResults as cards of section keys."""
    return [[f"{hit.sop_id}#{hit.anchor}" for hit in group.sections] for group in results.groups]


@dataclass(frozen=True)
class JudgedQuery:
    query: str
    answers: tuple[str, ...]
    tier: str = "T1"
    style: str = ""  # how it is written: symptom, acronym, typo, partial, quote, jargon ...

    def is_answer(self, key: str) -> bool:
        sop_id = key.split("#", 1)[0]
        return key in self.answers or sop_id in self.answers


@dataclass(frozen=True)
class QueryOutcome:
    query: JudgedQuery
    ranked: tuple[str, ...]
    rank: int | None  # 1-based rank of the first answer within MRR_DEPTH
    recall: float  # share of the answers found in the top RECALL_DEPTH


@dataclass
class EvaluationReport:
    outcomes: list[QueryOutcome] = field(default_factory=list)

    @property
    def mrr(self) -> float:
        return sum(1 / o.rank for o in self.outcomes if o.rank) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def recall(self) -> float:
        return sum(o.recall for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def success(self) -> float:
        """Share of queries with at least one answer in the top RECALL_DEPTH."""
        return (
            sum(1 for o in self.outcomes if o.rank and o.rank <= RECALL_DEPTH) / len(self.outcomes)
            if self.outcomes
            else 0.0
        )

    def misses(self, depth: int = RECALL_DEPTH) -> list[QueryOutcome]:
        return [o for o in self.outcomes if not o.rank or o.rank > depth]

    def summary(self) -> dict:
        return {
            "queries": len(self.outcomes),
            "mrr@10": round(self.mrr, 3),
            "recall@5": round(self.recall, 3),
            "success@5": round(self.success, 3),
        }


def load_judged_queries(path: Path | str) -> list[JudgedQuery]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    queries = []
    for number, item in enumerate(data.get("queries", []), start=1):
        answers = item.get("answers")
        if not item.get("query") or not answers:
            raise ValueError(f"{path}: query {number} needs `query` and `answers`")
        answers = (answers,) if isinstance(answers, str) else tuple(answers)
        queries.append(JudgedQuery(str(item["query"]), answers, item.get("tier", "T1"), item.get("style", "")))
    return queries


def evaluate(search: SearchFunction, queries: Iterable[JudgedQuery]) -> EvaluationReport:
    report = EvaluationReport()
    for judged in queries:
        ranked = tuple(search(judged.query, judged.tier)[: max(MRR_DEPTH, RECALL_DEPTH)])
        rank = next((i for i, key in enumerate(ranked[:MRR_DEPTH], start=1) if judged.is_answer(key)), None)
        top = ranked[:RECALL_DEPTH]
        found = sum(
            1 for answer in judged.answers if any(key == answer or key.split("#", 1)[0] == answer for key in top)
        )
        report.outcomes.append(QueryOutcome(judged, ranked, rank, found / len(judged.answers)))
    return report


def evaluate_cards(search: CardSearchFunction, queries: Iterable[JudgedQuery]) -> EvaluationReport:
    """Each card one rank (see the module docstring); recall@5 over the first five cards' sections."""
    report = EvaluationReport()
    for judged in queries:
        cards = search(judged.query, judged.tier)[: max(MRR_DEPTH, RECALL_DEPTH)]
        rank = next(
            (i for i, card in enumerate(cards[:MRR_DEPTH], start=1) if any(judged.is_answer(key) for key in card)),
            None,
        )
        top = [key for card in cards[:RECALL_DEPTH] for key in card]
        found = sum(
            1 for answer in judged.answers if any(key == answer or key.split("#", 1)[0] == answer for key in top)
        )
        ranked = tuple(card[0] for card in cards if card)
        report.outcomes.append(QueryOutcome(judged, ranked, rank, found / len(judged.answers)))
    return report
