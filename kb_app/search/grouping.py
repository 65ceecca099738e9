"""Grouping section scores by SOP: which SOPs rank first, and which of their sections are listed.

An agent wants the procedure first and the right part of it second. A grouped search ranks SOPs
and lists each one's best sections beneath it, so one SOP whose every section mentions the
query's words takes one card, not the whole first page.

- An SOP ranks by its best section, plus a little (SUPPORT) for each further strong section (at
  least SECTION_SHARE of the best, among its best MAX_SECTIONS): a procedure that answers the
  question in several places is more likely the procedure.
- A card lists the SOP's best section, then each further one (up to MAX_SECTIONS in all) that
  scores at least NEXT_SHARE of the next card's best section. Ranking by section would have put
  those sections about where the next card starts; weaker ones would sit below other SOPs' best
  sections, so the card leaves them out (the agent finds them on the SOP page) and the next SOP
  moves up instead.

The constants were chosen on tests/search_eval's judged queries (ours and the GitLab handbook's):
with them, grouping matches ranking by section when every listed section counts as one rank,
and beats it clearly when every card counts as one (see bench/RESULTS.md).

Pure functions over `doc -> score` and `doc -> SOP number`; the service turns the result into
SearchGroup objects. tests/search_eval measures that grouping does not rank answers lower than
ranking by section does, on our SOPs and on the GitLab support handbook.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Mapping, Sequence

MAX_SECTIONS = 5
SECTION_SHARE = 0.5
SUPPORT = 0.05
NEXT_SHARE = 0.8


@dataclass(frozen=True)
class RankedGroup:
    sop: int  # the SOP's number in the tier index
    score: float
    docs: tuple[int, ...]  # the listed sections, best first
    matched: int  # every matching section of the SOP


def support(docs: Sequence[int], scores: Mapping[int, float]) -> float:
    """What an SOP ranks by, from its matching sections sorted best first: its best section, plus
    SUPPORT times each further section among its best MAX_SECTIONS that scores at least
    SECTION_SHARE of the best one."""
    best = scores[docs[0]]
    floor = best * SECTION_SHARE
    return best + SUPPORT * sum(scores[doc] for doc in docs[1:MAX_SECTIONS] if scores[doc] >= floor)


def listed(docs: Sequence[int], scores: Mapping[int, float], next_best: float) -> tuple[int, ...]:
    """The sections a card lists: its best one, then each further one (up to MAX_SECTIONS) that
    scores at least NEXT_SHARE of the next card's best section (see the module docstring)."""
    return (docs[0],) + tuple(doc for doc in docs[1:MAX_SECTIONS] if scores[doc] >= next_best * NEXT_SHARE)


def by_sop(scores: Mapping[int, float], sop_of: Sequence[int]) -> dict[int, list[int]]:
    """Matching sections per SOP number, unordered."""
    groups: dict[int, list[int]] = {}
    for doc in scores:
        sop = sop_of[doc]
        members = groups.get(sop)
        if members is None:
            groups[sop] = [doc]
        else:
            members.append(doc)
    return groups


def rank_groups(
    scores: Mapping[int, float], sop_of: Sequence[int], *, offset: int, limit: int
) -> tuple[list[RankedGroup], int]:
    """The page of SOPs [offset, offset + limit) and the number of matching SOPs.

    Ties break by SOP number (SOP id order), and sections of one SOP by document number (their
    order in the SOP), so the same query always gives the same page.
    """
    groups = by_sop(scores, sop_of)
    ranked = []
    for sop, docs in groups.items():
        if len(docs) > 1:
            docs.sort(key=lambda doc: (-scores[doc], doc))
        ranked.append((support(docs, scores), sop, docs))
    page = heapq.nsmallest(offset + limit + 1, ranked, key=lambda item: (-item[0], item[1]))
    out = []
    for position in range(offset, min(offset + limit, len(page))):
        score, sop, docs = page[position]
        next_best = scores[page[position + 1][2][0]] if position + 1 < len(page) else 0.0
        out.append(RankedGroup(sop, score, listed(docs, scores, next_best), len(docs)))
    return out, len(groups)
