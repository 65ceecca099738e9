"""Candidate gaps, ranked per SOP section, from every signal the platform records.

Signals (each counted in SQL over a window, `since` to `now`, optionally one vendor's agents):

- **search_zero**: agents' searches that found nothing. Each query is run against the full
  (Tier 2, unfiltered) index through a `matcher`; a query that finds a section there is that
  section's gap, one that finds nothing anywhere is a gap of its own (no section answers it).
- **search_unopened**: searches that found sections of which none was opened.
- **item**: quiz questions (their `source` is `SOP-ID#anchor`) too hard or discriminating badly,
  with at least MIN_ITEM_ANSWERS answers in the window.
- **feedback**: agents' flags on the section (open or accepted).
- **ack_lag**: over the requirements opened in the window, a site whose median time to
  acknowledge an SOP is at least LAG_RATIO times the median of the SOP's other sites' medians
  (at least MIN_LAG_HOURS, MIN_LAG_ACKS acknowledgements).
- **overdue**: over the open requirements due in the window, a site or team with at least
  MIN_OVERDUE overdue acknowledgements and an overdue rate at least OVERDUE_RATIO times the
  SOP's overall rate.
- **review**: an active SOP past its `review_by` date (from the catalog, when given).

Each signal says the kind of gap it points to, by a fixed rule (RULES); a gap's kind is the kind
with the most weight among its evidence. Weights (`score`) rank the gaps.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from kb_app.acks.coverage import median_of_buckets
from kb_app.catalog.model import Sop
from kb_app.models import Agent
from kb_app.models.acks import Requirement
from kb_app.models.improvement import ActionGap, FeedbackFlag, ImprovementAction
from kb_app.models.quizzes import QuizAnswer, QuizAttempt
from kb_app.models.rollups import BUCKETS, CoverageRollup
from kb_app.models.search_log import SearchClick, SearchQuery
from kb_app.quizzes.reports import LOW_DISCRIMINATION, TOO_HARD, section_url
from kb_app.search import IndexNotFound, SearchService
from kb_app.search_log import week_of
from kb_app.versions import latest_versions

KINDS = ("sop", "training", "quality", "tooling")
RULES = {
    "search_zero_mapped": (
        "tooling",
        "searches found nothing, yet the full index finds this section: wording, synonyms or filters keep it hidden",
    ),
    "search_zero_unmapped": ("sop", "searches found nothing anywhere: no section answers them"),
    "search_unopened": ("sop", "searches found sections but none was opened: titles and headings miss the question"),
    "item_hard": ("training", "a question agents mostly miss while it still tells strong from weak agents"),
    "item_quality": (
        "quality",
        "a question that does not tell strong from weak agents (low or negative discrimination)",
    ),
    "feedback": ("sop", "agents flagged the section as unclear, outdated, wrong or missing a step"),
    "ack_lag": ("tooling", "a site takes far longer than the others to acknowledge: the update is not reaching it"),
    "overdue": ("training", "a site or team is far behind the rest on reading the SOP"),
    "review": ("sop", "the SOP is past its review date"),
}
MIN_ITEM_ANSWERS = 10
LAG_RATIO = 2.0
MIN_LAG_HOURS = 4.0
MIN_LAG_ACKS = 5
MIN_OVERDUE = 5
OVERDUE_RATIO = 2.0
SEARCH_LIMIT = 50
UNOPENED_MIN = 3  # searches of a query, all with results, none opened
DEFAULT_DAYS = 28

# A matcher maps a query to the section it should have found: (sop_id, anchor) or None.
Matcher = Callable[[str], "tuple[str, str] | None"]


class GapError(ValueError):
    pass


@dataclass(frozen=True)
class Evidence:
    signal: str  # a RULES key
    summary: str
    count: int
    score: float
    link: str | None = None
    queries: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return RULES[self.signal][0]

    @property
    def rule(self) -> str:
        return RULES[self.signal][1]

    def to_dict(self) -> dict:
        return {
            "signal": self.signal,
            "kind": self.kind,
            "rule": self.rule,
            "summary": self.summary,
            "count": self.count,
            "score": round(self.score, 2),
            "link": self.link,
            "queries": list(self.queries),
        }


@dataclass
class Gap:
    key: str  # "SOP-ID#anchor" ("SOP-ID#" for the whole SOP), or "search:<query>"
    sop_id: str | None
    anchor: str
    title: str  # the SOP title, or the query for an unmapped search
    section: str  # the section heading ("" for the whole SOP)
    link: str | None
    evidence: list[Evidence] = field(default_factory=list)
    action_ids: list[int] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.evidence), 2)

    @property
    def kind(self) -> str:
        weight = dict.fromkeys(KINDS, 0.0)
        for e in self.evidence:
            weight[e.kind] += e.score
        return max(KINDS, key=lambda k: (weight[k], -KINDS.index(k)))

    @property
    def rule(self) -> str:
        best = max((e for e in self.evidence if e.kind == self.kind), key=lambda e: e.score)
        return best.rule

    @property
    def queries(self) -> list[str]:
        return sorted({q for e in self.evidence for q in e.queries})

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "sop_id": self.sop_id,
            "anchor": self.anchor,
            "title": self.title,
            "section": self.section,
            "link": self.link,
            "kind": self.kind,
            "rule": self.rule,
            "score": self.score,
            "evidence": [e.to_dict() for e in self.evidence],
            "action_ids": self.action_ids,
        }


@dataclass(frozen=True)
class GapQuery:
    since: datetime
    now: datetime
    vendor: str | None = None  # one vendor's agents only
    tier: str | None = None  # "T1": leave out Tier 2-only SOPs (for Tier 1 readers)


def section_key(sop_id: str, anchor: str) -> str:
    return f"{sop_id}#{anchor}"


def find_gaps(
    session: Session,
    q: GapQuery,
    *,
    matcher: Matcher | None = None,
    sops: Iterable[Sop] = (),
    limit: int = 200,
) -> list[Gap]:
    """Every candidate gap in the window, highest score first. A constant number of queries."""
    if q.since >= q.now:
        raise GapError("the window is empty: `since` must be before `now`")
    versions = latest_versions(session)
    hidden = {s for s, v in versions.items() if v.visibility == "t2_only"} if q.tier == "T1" else set()
    gaps: dict[str, Gap] = {}

    def gap_for(sop_id: str, anchor: str) -> Gap | None:
        if sop_id in hidden:
            return None
        key = section_key(sop_id, anchor)
        if key not in gaps:
            version = versions.get(sop_id)
            headings = {s.get("anchor"): s.get("heading", "") for s in (version.sections if version else [])}
            gaps[key] = Gap(
                key=key,
                sop_id=sop_id,
                anchor=anchor,
                title=version.title if version else sop_id,
                section=headings.get(anchor, "") if anchor else "",
                link=section_url(version.path, anchor) if version else None,
            )
        return gaps[key]

    _search_signals(session, q, matcher, gap_for, gaps)
    _item_signals(session, q, gap_for)
    _feedback_signals(session, q, gap_for)
    _ack_lag_signals(session, q, gap_for)
    _overdue_signals(session, q, gap_for)
    _review_signals(q, sops, gap_for)
    found = [g for g in gaps.values() if g.evidence]
    _attach_actions(session, found)
    found.sort(key=lambda g: (-g.score, g.key))
    return found[:limit]


def find_gap(session: Session, key: str, q: GapQuery, **kwargs) -> Gap | None:
    return next((g for g in find_gaps(session, q, **kwargs) if g.key == key), None)


# --- the signals ------------------------------------------------------------------------------


def _search_signals(session: Session, q: GapQuery, matcher: Matcher | None, gap_for, gaps: dict[str, Gap]) -> None:
    """One aggregation over the window's searches."""
    # Opened: a click on the search (its index answers each row; no scan of every click).
    was_opened = select(SearchClick.id).where(SearchClick.search_id == SearchQuery.id).correlate(SearchQuery).exists()
    searches = func.count().label("searches")
    zero = func.sum(case((SearchQuery.result_count == 0, 1), else_=0)).label("zero")
    opened = func.sum(case((was_opened, 1), else_=0)).label("opened")
    stmt = (
        select(SearchQuery.query, searches, zero, opened)
        .where(
            SearchQuery.week_start >= week_of(q.since),
            SearchQuery.searched_at >= q.since,
            SearchQuery.searched_at <= q.now,
            SearchQuery.role == "agent",
            SearchQuery.query != "",
        )
        .group_by(SearchQuery.query)
        .having(or_(zero > 0, and_(searches > zero, opened == 0, searches >= UNOPENED_MIN)))
    )
    if q.vendor is not None:
        stmt = stmt.where(SearchQuery.vendor == q.vendor)
    if q.tier is not None:
        stmt = stmt.where(SearchQuery.tier == q.tier)
    rows = session.execute(stmt).all()
    zero_rows = sorted((r for r in rows if r.zero), key=lambda r: (-int(r.zero), r.query))[:SEARCH_LIMIT]
    unopened_rows = sorted(
        (r for r in rows if not r.opened and int(r.searches) > int(r.zero or 0) and int(r.searches) >= UNOPENED_MIN),
        key=lambda r: (-int(r.searches), r.query),
    )[:SEARCH_LIMIT]
    for row in zero_rows:
        found = matcher(row.query) if matcher else None
        n = int(row.zero)
        score = 2.0 + min(8.0, float(n))
        link = "/search/analytics"
        if found is not None:
            gap = gap_for(*found)
            if gap is not None:
                gap.evidence.append(
                    Evidence(
                        "search_zero_mapped",
                        f"'{row.query}': {n} of {int(row.searches)} searches found nothing",
                        n,
                        score,
                        link,
                        (row.query,),
                    )
                )
                continue
        key = f"search:{row.query}"
        gaps.setdefault(key, Gap(key=key, sop_id=None, anchor="", title=row.query, section="", link=None))
        gaps[key].evidence.append(
            Evidence(
                "search_zero_unmapped",
                f"'{row.query}': {n} of {int(row.searches)} searches found nothing, in any index",
                n,
                score,
                link,
                (row.query,),
            )
        )
    for row in unopened_rows:
        found = matcher(row.query) if matcher else None
        if found is None:
            continue
        gap = gap_for(*found)
        if gap is not None:
            n = int(row.searches)
            gap.evidence.append(
                Evidence(
                    "search_unopened",
                    f"'{row.query}': {n} searches found results, none opened",
                    n,
                    1.0 + min(5.0, n / 2),
                    "/search/analytics",
                    (row.query,),
                )
            )


def item_rows(session: Session, *, where: list, vendor: str | None, group: list):
    """Per group: answers n and the sums for facility and discrimination (Pearson of the item's
    score fraction x against the rest of the attempt's score r)."""
    x = QuizAnswer.fraction
    rest = QuizAttempt.score - QuizAnswer.points_earned
    stmt = (
        select(
            *group,
            func.count().label("n"),
            func.sum(x).label("sx"),
            func.sum(x * x).label("sxx"),
            func.sum(rest).label("sr"),
            func.sum(rest * rest).label("srr"),
            func.sum(x * rest).label("sxr"),
        )
        .select_from(QuizAnswer)
        .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
        .where(QuizAttempt.status == "submitted", *where)
        .group_by(*group)
    )
    if vendor is not None:
        stmt = stmt.join(Agent, Agent.id == QuizAttempt.agent_id).where(Agent.vendor == vendor)
    return session.execute(stmt).mappings().all()


def facility_and_discrimination(row) -> tuple[float | None, float | None]:
    n = int(row["n"] or 0)
    if not n:
        return None, None
    sx, sxx, sr, srr, sxr = (float(row[k] or 0.0) for k in ("sx", "sxx", "sr", "srr", "sxr"))
    facility = sx / n
    vx = n * sxx - sx * sx
    vr = n * srr - sr * sr
    if vx <= 1e-12 or vr <= 1e-12:
        return facility, None
    return facility, (n * sxr - sx * sr) / math.sqrt(vx * vr)


def _item_signals(session: Session, q: GapQuery, gap_for) -> None:
    rows = item_rows(
        session,
        where=[QuizAttempt.submitted_at >= q.since, QuizAttempt.submitted_at <= q.now],
        vendor=q.vendor,
        group=[QuizAnswer.source, QuizAnswer.bank_id, QuizAnswer.question_id],
    )
    for row in rows:
        if int(row["n"]) < MIN_ITEM_ANSWERS:
            continue
        facility, disc = facility_and_discrimination(row)
        if facility is None:
            continue
        sop_id, _, anchor = str(row["source"]).partition("#")
        bad_disc = disc is not None and disc < LOW_DISCRIMINATION
        if not bad_disc and facility >= TOO_HARD:
            continue
        gap = gap_for(sop_id, anchor)
        if gap is None:
            continue
        described = f"facility {facility:.2f}" + (f", discrimination {disc:.2f}" if disc is not None else "")
        signal = "item_quality" if bad_disc else "item_hard"
        score = 3.0 + (max(0.0, TOO_HARD - facility) * 10) + (2.0 if disc is not None and disc < 0 else 0.0)
        gap.evidence.append(
            Evidence(
                signal,
                f"{row['bank_id']} question {row['question_id']}: {described} over {int(row['n'])} answers",
                int(row["n"]),
                score,
                f"/quizzes/banks/{row['bank_id']}/analysis",
            )
        )


def _feedback_signals(session: Session, q: GapQuery, gap_for) -> None:
    stmt = (
        select(FeedbackFlag.sop_id, FeedbackFlag.anchor, FeedbackFlag.kind, func.count().label("n"))
        .where(
            FeedbackFlag.created_at >= q.since,
            FeedbackFlag.created_at <= q.now,
            FeedbackFlag.status.in_(("open", "accepted")),
        )
        .group_by(FeedbackFlag.sop_id, FeedbackFlag.anchor, FeedbackFlag.kind)
        .order_by(FeedbackFlag.sop_id, FeedbackFlag.anchor, FeedbackFlag.kind)
    )
    if q.vendor is not None:
        stmt = stmt.where(FeedbackFlag.vendor == q.vendor)
    if q.tier is not None:
        stmt = stmt.where(FeedbackFlag.tier == q.tier)
    for row in session.execute(stmt):
        gap = gap_for(row.sop_id, row.anchor)
        if gap is None:
            continue
        n = int(row.n)
        gap.evidence.append(
            Evidence(
                "feedback",
                f"{n} flag(s): {row.kind.replace('_', ' ')}",
                n,
                min(10.0, 2.0 * n),
                f"/feedback?sop={row.sop_id}",
            )
        )


def _rollup_base(q: GapQuery, *columns):
    """SELECT over the coverage rollups (one row per requirement, roster cell and due date, active
    agents only) of the requirements, in the query's vendor and tier."""
    r = CoverageRollup.__table__.c
    stmt = select(*columns).select_from(CoverageRollup.__table__).join(Requirement, Requirement.id == r.requirement_id)
    if q.vendor is not None:
        stmt = stmt.where(r.vendor == q.vendor)
    if q.tier is not None:
        stmt = stmt.where(r.tier == q.tier)
    return stmt


def _ack_lag_signals(session: Session, q: GapQuery, gap_for) -> None:
    """Median time to acknowledge per SOP and site, over the requirements opened in the window
    (from the coverage rollups' time buckets); a site is an outlier against the median of the
    SOP's other sites' medians."""
    r = CoverageRollup.__table__.c
    rows = session.execute(
        _rollup_base(q, Requirement.sop_id, r.site, *(func.sum(r[name]).label(name) for name in BUCKETS))
        .where(Requirement.opened_at >= q.since, Requirement.opened_at <= q.now)
        .group_by(Requirement.sop_id, r.site)
        .order_by(Requirement.sop_id, r.site)
    ).all()
    by_sop: dict[str, list[tuple[str, float, int]]] = {}
    for row in rows:
        counts = [int(getattr(row, name) or 0) for name in BUCKETS]
        hours = median_of_buckets(counts)
        if hours is not None:
            by_sop.setdefault(row.sop_id, []).append((row.site, hours * 3600.0, sum(counts)))
    for sop_id, sites in by_sop.items():
        for site, seconds, n in sites:
            others = [m for other, m, _ in sites if other != site]
            if not others or n < MIN_LAG_ACKS or seconds / 3600.0 < MIN_LAG_HOURS:
                continue
            baseline = statistics.median(others)
            if baseline <= 0 or seconds / baseline < LAG_RATIO:
                continue
            gap = gap_for(sop_id, "")
            if gap is None:
                continue
            ratio = seconds / baseline
            gap.evidence.append(
                Evidence(
                    "ack_lag",
                    f"site {site}: median {seconds / 3600.0:.1f} h to acknowledge, {ratio:.1f}x the other sites' "
                    f"{baseline / 3600.0:.1f} h ({n} acknowledgements)",
                    n,
                    3.0 + min(5.0, ratio),
                    f"/coverage?by=site&sop={sop_id}",
                )
            )


def _overdue_signals(session: Session, q: GapQuery, gap_for) -> None:
    """Sites and teams with a share overdue well above the SOP's, from the coverage rollups."""
    r = CoverageRollup.__table__.c
    overdue = func.sum(case((r.due_at <= q.now, r.unacked), else_=0)).label("overdue")
    population = func.sum(r.population).label("population")
    # Requirements still open and due within the window: clusters that are news, not last year's.
    rows = session.execute(
        _rollup_base(q, Requirement.sop_id, r.site, r.team, population, overdue)
        .where(Requirement.closed_at.is_(None), Requirement.due_at >= q.since, Requirement.due_at <= q.now)
        .group_by(Requirement.sop_id, r.site, r.team)
    ).all()
    totals: dict[str, list[int]] = {}
    groups: dict[tuple[str, str, str], list[int]] = {}
    for row in rows:
        n, late = int(row.population), int(row.overdue or 0)
        totals.setdefault(row.sop_id, [0, 0])
        totals[row.sop_id][0] += n
        totals[row.sop_id][1] += late
        for dimension, value in (("site", row.site), ("team", row.team)):
            entry = groups.setdefault((row.sop_id, dimension, value), [0, 0])
            entry[0] += n
            entry[1] += late
    for (sop_id, dimension, value), (n, late) in sorted(groups.items()):
        total_n, total_late = totals[sop_id]
        if late < MIN_OVERDUE or not n or not total_n:
            continue
        rate, overall = late / n, total_late / total_n
        if rate < OVERDUE_RATIO * overall or n == total_n:
            continue
        gap = gap_for(sop_id, "")
        if gap is None:
            continue
        gap.evidence.append(
            Evidence(
                "overdue",
                f"{dimension} {value}: {late} of {n} overdue ({rate:.0%}, against {overall:.0%} overall)",
                late,
                3.0 + min(5.0, rate * 10),
                f"/coverage?by={dimension}&sop={sop_id}",
            )
        )


def _review_signals(q: GapQuery, sops: Iterable[Sop], gap_for) -> None:
    today = q.now.date()
    for sop in sops:
        if sop.status != "active" or sop.review_by >= today:
            continue
        gap = gap_for(sop.id, "")
        if gap is None:
            continue
        days = (today - sop.review_by).days
        gap.evidence.append(
            Evidence("review", f"review was due {sop.review_by.isoformat()} ({days} days ago)", days, 4.0, None)
        )


def _attach_actions(session: Session, gaps: list[Gap]) -> None:
    if not gaps:
        return
    keys = [g.key for g in gaps]
    rows = session.execute(
        select(ActionGap.gap_key, ActionGap.action_id)
        .join(ImprovementAction, ImprovementAction.id == ActionGap.action_id)
        .where(ActionGap.gap_key.in_(keys))
        .order_by(ActionGap.action_id)
    )
    by_key: dict[str, list[int]] = {}
    for key, action_id in rows:
        by_key.setdefault(key, []).append(action_id)
    for gap in gaps:
        gap.action_ids = by_key.get(gap.key, [])


# --- for the weekly digest ------------------------------------------------------------------------


def new_gaps(
    session: Session,
    since: datetime,
    vendor: str | None = None,
    *,
    now: datetime | None = None,
    matcher: Matcher | None = None,
    sops: Iterable[Sop] = (),
    tier: str | None = None,
) -> list[Gap]:
    """Gaps with evidence since `since` that no action answers yet (pass tier="T1" for a Tier 1
    reader such as a partner manager: Tier 2-only SOPs stay out)."""
    now = now or datetime.now(timezone.utc)
    found = find_gaps(session, GapQuery(since=since, now=now, vendor=vendor, tier=tier), matcher=matcher, sops=sops)
    return [g for g in found if not g.action_ids]


def search_matcher(service: SearchService) -> Matcher:
    """The section the full index (Tier 2, no filters) ranks first for a query; None when the
    index finds nothing. Answers are remembered for the life of the matcher (one index build)."""

    @functools.lru_cache(maxsize=4096)
    def match(query: str) -> tuple[str, str] | None:
        try:
            hits = service.search(query, tier="T2", limit=1).hits
        except IndexNotFound:
            return None
        return (hits[0].sop_id, hits[0].anchor) if hits else None

    return match


def default_since(now: datetime, days: int = DEFAULT_DAYS) -> datetime:
    return now - timedelta(days=days)


def parse_days(value: str | int | None, *, default: int = DEFAULT_DAYS) -> int:
    if value in (None, ""):
        return default
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise GapError(f"days: a whole number of days, not {str(value)[:20]!r}") from None
    if not 1 <= days <= 366:
        raise GapError("days: between 1 and 366")
    return days
