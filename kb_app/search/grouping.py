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
from typing import Callable, Iterable, Mapping, Sequence

MAX_SECTIONS = 5
SECTION_SHARE = 0.5
SUPPORT = 0.05
NEXT_SHARE = 0.8
CEILING = 1 + SUPPORT * (MAX_SECTIONS - 1)  # an SOP's score is at most its best section's times this


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


@dataclass(frozen=True)
class Ranking:
    page: list[RankedGroup]  # the SOPs [offset, offset + limit), best first
    total: int  # matching SOPs
    representatives: list[int]  # one matching section of every matching SOP (for counting SOPs)


def rank_groups(
    scores: Mapping[int, float],
    sop_of: Sequence[int],
    members: Callable[[int], Iterable[int]],
    *,
    offset: int,
    limit: int,
) -> Ranking:
    """The page of SOPs [offset, offset + limit), the number of matching SOPs, one section of each.

    `members(doc)` gives every section of the SOP of section `doc`. Ties break by document number
    (SOP id order, then section order), so the same query always gives the same page.

    Only SOPs that can reach the page are looked at closely: the best sections come first (a heap,
    as ranking by section does), and an SOP's score is at most `best * CEILING`, so once enough
    SOPs are scored, the rest (in order of their best section) cannot overtake them; when the first
    sections looked at cannot settle the page, more are.
    """
    wanted = offset + limit + 1  # one more than the page: its best section bounds the last card's list
    depth = wanted * MAX_SECTIONS * 2  # sections looked at first; deepened when they are not enough
    while True:
        top = heapq.nlargest(depth, scores, key=scores.__getitem__)
        top.sort(key=lambda doc: (-scores[doc], doc))
        seen_all = len(top) == len(scores)
        floor = scores[top[-1]] if top else 0.0  # no SOP outside `top` has a best section above this
        # Each SOP's best section among `top`: written from the worst up, so the last write wins.
        leaders = sorted({sop_of[doc]: doc for doc in reversed(top)}.values(), key=lambda doc: (-scores[doc], doc))
        scored: list[tuple[float, int, list[int]]] = []
        for leader in leaders:
            if len(scored) >= wanted:
                scored.sort(key=lambda item: (-item[0], item[1]))
                del scored[wanted:]
                if scored[-1][0] > scores[leader] * CEILING:
                    break
            docs = sorted(sorted(filter(scores.__contains__, members(leader))), key=scores.__getitem__, reverse=True)
            scored.append((support(docs, scores), docs[0], docs))
        scored.sort(key=lambda item: (-item[0], item[1]))
        if seen_all or (len(scored) >= wanted and scored[wanted - 1][0] > floor * CEILING):
            break
        depth *= 4
    scored.sort(key=lambda item: (-item[0], item[1]))
    page = []
    for position in range(offset, min(offset + limit, len(scored))):
        score, leader, docs = scored[position]
        next_best = scores[scored[position + 1][1]] if position + 1 < len(scored) else 0.0
        page.append(RankedGroup(sop_of[leader], score, listed(docs, scores, next_best), len(docs)))
    one_per_sop = dict(zip(map(sop_of.__getitem__, scores), scores))
    return Ranking(page, len(one_per_sop), list(one_per_sop.values()))
