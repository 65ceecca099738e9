"""Outcomes measured, not claimed: once an action is done and a fixed version of a linked SOP is
published, the same measures before and after it, over windows of equal length.

The fix is the first version of each linked SOP published after the action was opened; P is
the latest of those publications (the fix is whole once every linked SOP has its new version).
The after window is [P, P + W), the before window [P - W, P), with W = min(WINDOW_DAYS, now - P).

Measures (each counted in SQL, per window; `vendor` confines them to one vendor's agents):

- facility and discrimination of the linked questions: answers to questions whose `source` is a
  linked section (or any section of a linked whole SOP), of attempts submitted in the window;
- zero-result rate of the related queries: the queries behind the action's search gaps;
- feedback count on the linked sections;
- median hours to acknowledge: the fix's requirements against each linked SOP's requirement just
  before it, counting on both sides the acknowledgements made within W of assignment.

Fewer than MIN_SAMPLE observations on either side is reported as "n=3, too few to compare", with
no before/after direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from kb_app.improvement.gaps import facility_and_discrimination, item_rows
from kb_app.models import Agent, PublishedVersion
from kb_app.models.acks import Assignment, Requirement
from kb_app.models.improvement import FeedbackFlag, ImprovementAction
from kb_app.models.quizzes import QuizAnswer, QuizAttempt
from kb_app.models.search_log import SearchQuery
from kb_app.sqlfuncs import median

WINDOW_DAYS = 28
MIN_SAMPLE = 10
MIN_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    before: float | None
    after: float | None
    n_before: int
    n_after: int
    better: str  # "higher" or "lower": which direction is an improvement

    @property
    def comparable(self) -> bool:
        return min(self.n_before, self.n_after) >= MIN_SAMPLE and self.before is not None and self.after is not None

    @property
    def note(self) -> str:
        if self.comparable:
            assert self.before is not None and self.after is not None
            if abs(self.after - self.before) < 1e-9:
                return "no change"
            improved = (self.after > self.before) == (self.better == "higher")
            return "better" if improved else "worse"
        return f"n={min(self.n_before, self.n_after)}, too few to compare"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "unit": self.unit,
            "before": None if self.before is None else round(self.before, 3),
            "after": None if self.after is None else round(self.after, 3),
            "n_before": self.n_before,
            "n_after": self.n_after,
            "comparable": self.comparable,
            "note": self.note,
        }


@dataclass
class Outcome:
    action_id: int
    title: str
    state: str  # "measured", "waiting" (not done, or no fixed version yet)
    reason: str = ""
    fixes: list[tuple[str, str, datetime]] = field(default_factory=list)  # (sop_id, version, published_at)
    before: tuple[datetime, datetime] | None = None
    after: tuple[datetime, datetime] | None = None
    measures: list[Measure] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "action_id": self.action_id,
            "title": self.title,
            "state": self.state,
            "reason": self.reason,
            "fixes": [{"sop_id": s, "version": v, "published_at": p.isoformat()} for s, v, p in self.fixes],
            "before": [t.isoformat() for t in self.before] if self.before else None,
            "after": [t.isoformat() for t in self.after] if self.after else None,
            "measures": [m.to_dict() for m in self.measures],
        }


def _fixes(session: Session, action: ImprovementAction) -> list[tuple[str, str, datetime, int]]:
    sop_ids = sorted({s.sop_id for s in action.sections})
    if not sop_ids:
        return []
    first = (
        select(PublishedVersion.sop_id, func.min(PublishedVersion.id).label("id"))
        .where(PublishedVersion.sop_id.in_(sop_ids), PublishedVersion.published_at > action.created_at)
        .group_by(PublishedVersion.sop_id)
        .subquery()
    )
    rows = session.execute(
        select(PublishedVersion.sop_id, PublishedVersion.version, PublishedVersion.published_at, PublishedVersion.id)
        .join(first, first.c.id == PublishedVersion.id)
        .order_by(PublishedVersion.sop_id)
    )
    return [(r.sop_id, r.version, r.published_at, r.id) for r in rows]


def outcome(session: Session, action: ImprovementAction, *, now: datetime, vendor: str | None = None) -> Outcome:
    out = Outcome(action.id, action.title, "waiting")
    if action.status != "done":
        out.reason = "measured once the action is done and its fixed version is published"
        return out
    if not action.sections:
        out.reason = "the action links no SOP section, so there is nothing to measure"
        return out
    fixes = _fixes(session, action)
    out.fixes = [f[:3] for f in fixes]
    missing = sorted({s.sop_id for s in action.sections} - {f[0] for f in fixes})
    if missing:
        out.reason = f"waiting for a new published version of {', '.join(missing)}"
        return out
    published = max(f[2] for f in fixes)
    window = min(timedelta(days=WINDOW_DAYS), now - published)
    if window < MIN_WINDOW:
        out.reason = f"the fixed version was published {published.isoformat(timespec='minutes')}: too recent to measure"
        return out
    start, end = published - window, published + window
    out.state, out.before, out.after = "measured", (start, published), (published, end)
    out.measures = _measures(session, action, start, published, end, vendor, [f[3] for f in fixes])
    return out


def _side(column, published: datetime):
    return case((column < published, "before"), else_="after").label("side")


def _measures(
    session: Session,
    action: ImprovementAction,
    start: datetime,
    published: datetime,
    end: datetime,
    vendor: str | None,
    fixed_version_ids: list[int],
) -> list[Measure]:
    measures = []
    anchors = [(s.sop_id, s.anchor) for s in action.sections]
    sop_ids = sorted({s for s, _ in anchors})
    # Linked questions: a section's own questions, or every question of a whole linked SOP.
    source_match = or_(
        *(
            QuizAnswer.source == f"{s}#{a}" if a else or_(QuizAnswer.source == s, QuizAnswer.source.like(f"{s}#%"))
            for s, a in anchors
        )
    )
    side = _side(QuizAttempt.submitted_at, published)
    rows = item_rows(
        session,
        where=[QuizAttempt.submitted_at >= start, QuizAttempt.submitted_at < end, source_match],
        vendor=vendor,
        group=[side],
    )
    stats = {row["side"]: (int(row["n"]), *facility_and_discrimination(row)) for row in rows}
    nb, fb, db = stats.get("before", (0, None, None))
    na, fa, da = stats.get("after", (0, None, None))
    measures.append(Measure("Facility of the linked questions", "", fb, fa, nb, na, "higher"))
    measures.append(Measure("Discrimination of the linked questions", "", db, da, nb, na, "higher"))

    queries = sorted({q for g in action.gaps for q in g.queries.splitlines() if q})
    if queries:
        side = _side(SearchQuery.searched_at, published)
        stmt = (
            select(
                side,
                func.count().label("n"),
                func.sum(case((SearchQuery.result_count == 0, 1), else_=0)).label("zero"),
            )
            .where(
                SearchQuery.query.in_(queries),
                SearchQuery.searched_at >= start,
                SearchQuery.searched_at < end,
                SearchQuery.role == "agent",
            )
            .group_by(side)
        )
        if vendor is not None:
            stmt = stmt.where(SearchQuery.vendor == vendor)
        found = {r.side: (int(r.n), int(r.zero or 0)) for r in session.execute(stmt)}
        (nb, zb), (na, za) = found.get("before", (0, 0)), found.get("after", (0, 0))
        measures.append(
            Measure(
                "Zero-result rate of the related queries",
                "%",
                100.0 * zb / nb if nb else None,
                100.0 * za / na if na else None,
                nb,
                na,
                "lower",
            )
        )

    section_match = or_(
        *(
            and_(FeedbackFlag.sop_id == s, FeedbackFlag.anchor == a) if a else FeedbackFlag.sop_id == s
            for s, a in anchors
        )
    )
    side = _side(FeedbackFlag.created_at, published)
    stmt = (
        select(side, func.count().label("n"))
        .where(section_match, FeedbackFlag.created_at >= start, FeedbackFlag.created_at < end)
        .group_by(side)
    )
    if vendor is not None:
        stmt = stmt.where(FeedbackFlag.vendor == vendor)
    flags = {r.side: int(r.n) for r in session.execute(stmt)}
    fb_n, fa_n = flags.get("before", 0), flags.get("after", 0)
    # A count is its own sample: compared once both windows together hold MIN_SAMPLE flags.
    total = fb_n + fa_n
    measures.append(Measure("Feedback flags on the sections", "flags", float(fb_n), float(fa_n), total, total, "lower"))

    # The fix's requirements against each linked SOP's requirement before it, counting the
    # acknowledgements made within W of assignment on both sides (the same observation window).
    earlier = session.scalars(
        select(func.max(Requirement.id))
        .where(Requirement.sop_id.in_(sop_ids), Requirement.opened_at < published)
        .group_by(Requirement.sop_id)
    ).all()
    fixed = session.scalars(select(Requirement.id).where(Requirement.version_id.in_(fixed_version_ids))).all()
    side = case((Requirement.id.in_(list(earlier) or [-1]), "before"), else_="after").label("side")
    stmt = (
        select(side, median(Assignment.seconds_to_ack).label("median_seconds"), func.count().label("n"))
        .select_from(Assignment)
        .join(Requirement, Requirement.id == Assignment.requirement_id)
        .where(
            Requirement.id.in_([*earlier, *fixed] or [-1]),
            Assignment.seconds_to_ack.is_not(None),
            Assignment.seconds_to_ack <= int((end - published).total_seconds()),
        )
        .group_by(side)
    )
    if vendor is not None:
        stmt = stmt.join(Agent, Agent.id == Assignment.agent_id).where(Agent.vendor == vendor)
    acks = {r.side: (int(r.n), float(r.median_seconds) / 3600.0) for r in session.execute(stmt)}
    (nb, hb), (na, ha) = acks.get("before", (0, None)), acks.get("after", (0, None))
    measures.append(Measure("Median hours to acknowledge", "h", hb, ha, nb, na, "lower"))
    return measures


def recent_outcomes(
    session: Session, since: datetime, vendor: str | None = None, *, now: datetime | None = None
) -> list[Outcome]:
    """Outcomes of the actions done since `since` (for a vendor: its own and the all-vendor
    actions, measured on its agents)."""
    now = now or datetime.now(timezone.utc)
    query = (
        select(ImprovementAction)
        .where(ImprovementAction.status == "done", ImprovementAction.done_at >= since)
        .order_by(ImprovementAction.done_at.desc(), ImprovementAction.id)
    )
    if vendor is not None:
        query = query.where((ImprovementAction.vendor == vendor) | ImprovementAction.vendor.is_(None))
    return [outcome(session, action, now=now, vendor=vendor) for action in session.scalars(query)]
