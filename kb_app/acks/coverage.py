"""Coverage of acknowledgement requirements, rolled up by roster dimension, computed in SQL.

Coverage states for one agent and one requirement:
on time (acknowledged by their due date), late (acknowledged after it), pending (not yet
acknowledged, not yet due), overdue (not acknowledged, due date passed). Deactivated agents
leave the population.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, Select, and_, case, cast, func, select
from sqlalchemy.orm import Session

from kb_app.models.quizzes import UpdateGate
from kb_app.versions import at_least
from kb_app.models import Agent
from kb_app.models.acks import Acknowledgement, Assignment, PublishedVersion, Requirement
from kb_app.models.rollups import BUCKET_BOUNDS, BUCKETS, CoverageRollup
from kb_app.sqlfuncs import seconds_between

GROUPS = {
    "requirement": None,
    "sop": Requirement.sop_id,
    "vendor": Agent.vendor,
    "site": Agent.site,
    "team": Agent.team,
    "team_leader": Agent.manager,
    "language": Agent.language,
    "tier": Agent.tier,
}


class ReportError(ValueError):
    pass


@dataclass(frozen=True)
class CoverageFilter:
    requirement_id: int | None = None
    sop_id: str | None = None
    vendor: str | None = None  # a partner manager's scope is always set here
    site: str | None = None
    team: str | None = None
    open_only: bool = True


@dataclass
class CoverageRow:
    group: dict[str, str | int | None]
    population: int
    on_time: int
    late: int
    pending: int
    overdue: int
    median_hours_to_ack: float | None
    awaiting_quiz: int = 0  # of pending + overdue: acknowledged, but the gating update quiz is not passed yet

    @property
    def acknowledged(self) -> int:
        return self.on_time + self.late

    @property
    def percent_acknowledged(self) -> float:
        return round(100.0 * self.acknowledged / self.population, 1) if self.population else 0.0

    def to_dict(self) -> dict:
        return {
            **self.group,
            "population": self.population,
            "on_time": self.on_time,
            "late": self.late,
            "pending": self.pending,
            "overdue": self.overdue,
            "awaiting_quiz": self.awaiting_quiz,
            "acknowledged_pct": self.percent_acknowledged,
            "median_hours_to_ack": self.median_hours_to_ack,
        }


def _group_columns(by: list[str], sources=None):
    """SELECT columns for grouping `by`, from the assignment rows (or the given `sources`)."""
    sources = sources or GROUPS
    columns = []
    for name in by:
        if name not in GROUPS:
            raise ReportError(f"cannot group coverage by {name!r}; choose from {', '.join(GROUPS)}")
        if name == "requirement":
            columns += [
                Requirement.id.label("requirement_id"),
                Requirement.sop_id.label("sop_id"),
                PublishedVersion.version.label("version"),
            ]
        else:
            columns.append(sources[name].label(name))
    return columns


def _base(columns, flt: CoverageFilter) -> Select:
    query = (
        select(*columns)
        .select_from(Assignment)
        .join(Agent, Agent.id == Assignment.agent_id)
        .join(Requirement, Requirement.id == Assignment.requirement_id)
        .join(PublishedVersion, PublishedVersion.id == Requirement.version_id)
        .where(Agent.active.is_(True))
    )
    if flt.open_only:
        query = query.where(Requirement.closed_at.is_(None))
    for value, column in (
        (flt.requirement_id, Requirement.id),
        (flt.sop_id, Requirement.sop_id),
        (flt.vendor, Agent.vendor),
        (flt.site, Agent.site),
        (flt.team, Agent.team),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


def coverage(
    session: Session, *, by: list[str], now: datetime, flt: CoverageFilter = CoverageFilter()
) -> list[CoverageRow]:
    """Coverage grouped `by` roster dimensions (and/or requirement), from the rollups: two queries
    over one row per requirement and roster cell, whatever the number of assignments."""
    group_cols = _rollup_group_columns(by)
    r = CoverageRollup.__table__.c
    query = (
        select(
            *group_cols,
            func.sum(r.population).label("population"),
            func.sum(r.on_time).label("on_time"),
            func.sum(r.late).label("late"),
            func.sum(case((r.due_at > now, r.unacked), else_=0)).label("pending"),
            func.sum(case((r.due_at <= now, r.unacked), else_=0)).label("overdue"),
            *(func.sum(r[name]).label(name) for name in BUCKETS),
        )
        .select_from(CoverageRollup.__table__)
        .join(Requirement, Requirement.id == r.requirement_id)
        .join(PublishedVersion, PublishedVersion.id == Requirement.version_id)
        .group_by(*group_cols)
        .having(func.sum(r.population) > 0)
        .order_by(*group_cols)
    )
    if flt.open_only:
        query = query.where(Requirement.closed_at.is_(None))
    for value, column in (
        (flt.requirement_id, r.requirement_id),
        (flt.sop_id, Requirement.sop_id),
        (flt.vendor, r.vendor),
        (flt.site, r.site),
        (flt.team, r.team),
    ):
        if value is not None:
            query = query.where(column == value)
    awaiting = _awaiting_quiz(session, _group_columns(by), flt)
    rows = []
    for row in session.execute(query).mappings():
        group = {c.name: row[c.name] for c in group_cols}
        key = tuple(group.values())
        rows.append(
            CoverageRow(
                group=group,
                population=int(row["population"]),
                on_time=int(row["on_time"] or 0),
                late=int(row["late"] or 0),
                pending=int(row["pending"] or 0),
                overdue=int(row["overdue"] or 0),
                median_hours_to_ack=median_of_buckets([int(row[name] or 0) for name in BUCKETS]),
                awaiting_quiz=awaiting.get(key, 0),
            )
        )
    return rows


def _rollup_group_columns(by: list[str]):
    """The group columns of the rollup table (the team leader is '' there when there is none)."""
    r = CoverageRollup.__table__.c
    return _group_columns(
        by,
        {
            "sop": Requirement.sop_id,
            "vendor": r.vendor,
            "site": r.site,
            "team": r.team,
            "team_leader": func.nullif(r.manager, ""),
            "language": r.language,
            "tier": r.tier,
        },
    )


def coverage_from_rows(
    session: Session, *, by: list[str], now: datetime, flt: CoverageFilter = CoverageFilter()
) -> list[CoverageRow]:
    """The same report as `coverage`, aggregated from the assignment rows themselves: what
    `kb report coverage --verify` and the rollup property tests compare the rollups with."""
    group_cols = _group_columns(by)
    acked = Assignment.acknowledged_at.is_not(None)
    counts = (
        _base(
            [
                *group_cols,
                func.count().label("population"),
                func.sum(case((and_(acked, Assignment.acknowledged_at <= Assignment.due_at), 1), else_=0)).label(
                    "on_time"
                ),
                func.sum(case((and_(acked, Assignment.acknowledged_at > Assignment.due_at), 1), else_=0)).label("late"),
                func.sum(case((and_(~acked, Assignment.due_at > now), 1), else_=0)).label("pending"),
                func.sum(case((and_(~acked, Assignment.due_at <= now), 1), else_=0)).label("overdue"),
            ],
            flt,
        )
        .group_by(*group_cols)
        .order_by(*group_cols)
    )
    medians = _median_hours(session, group_cols, flt)
    awaiting = _awaiting_quiz(session, group_cols, flt)
    rows = []
    for row in session.execute(counts).mappings():
        key = tuple(row[c.name] for c in group_cols)
        rows.append(
            CoverageRow(
                group={c.name: row[c.name] for c in group_cols},
                population=row["population"],
                on_time=int(row["on_time"] or 0),
                late=int(row["late"] or 0),
                pending=int(row["pending"] or 0),
                overdue=int(row["overdue"] or 0),
                median_hours_to_ack=medians.get(key),
                awaiting_quiz=awaiting.get(key, 0),
            )
        )
    return rows


def _awaiting_quiz(session: Session, group_cols, flt: CoverageFilter) -> dict[tuple, int]:
    """Uncovered assignments whose agent did acknowledge, on requirements gated by an update quiz
    of the agent's tier. Most requirements have no update quiz: only the gated ones are scanned."""
    gated_requirements = select(Requirement.id).join(UpdateGate, UpdateGate.version_id == Requirement.version_id)
    if flt.open_only:
        gated_requirements = gated_requirements.where(Requirement.closed_at.is_(None))
    requirement_ids = sorted(set(session.scalars(gated_requirements)))
    if not requirement_ids:
        return {}
    satisfied = (
        select(Acknowledgement.id)
        .where(
            Acknowledgement.agent_id == Assignment.agent_id,
            Acknowledgement.sop_id == Requirement.sop_id,
            at_least(Acknowledgement.major, Acknowledgement.minor, Requirement.major, Requirement.minor),
        )
        .exists()
    )
    # An update bank gates only the tier it is written for.
    gated = (
        select(UpdateGate.id)
        .where(UpdateGate.version_id == Requirement.version_id, UpdateGate.tier == Agent.tier)
        .exists()
    )
    query = (
        _base([*group_cols, func.count().label("n")], flt)
        .where(Requirement.id.in_(requirement_ids), Assignment.acknowledged_at.is_(None), gated, satisfied)
        .group_by(*group_cols)
    )
    names = [c.name for c in group_cols]
    return {tuple(row[n] for n in names): int(row["n"]) for row in session.execute(query).mappings()}


def _median_hours(session: Session, group_cols, flt: CoverageFilter) -> dict[tuple, float]:
    """Median time from assignment to acknowledgement per group, from the assignment rows, with
    the rollups' buckets (`kb_app.models.rollups.BUCKET_BOUNDS`)."""
    seconds = Assignment.seconds_to_ack
    bucket = case(
        *((seconds < bound, index) for index, bound in enumerate(BUCKET_BOUNDS)), else_=len(BUCKET_BOUNDS)
    ).label("bucket")
    names = [c.name for c in group_cols]
    query = (
        _base([*group_cols, bucket, func.count().label("n")], flt)
        .where(seconds.is_not(None))
        .group_by(*group_cols, bucket)
    )
    histograms: dict[tuple, list[int]] = {}
    for row in session.execute(query).mappings():
        counts = histograms.setdefault(tuple(row[n] for n in names), [0] * len(BUCKETS))
        counts[int(row["bucket"])] += int(row["n"])
    return {key: median for key, counts in histograms.items() if (median := median_of_buckets(counts)) is not None}


def median_of_buckets(counts: list[int]) -> float | None:
    """Median, in hours, of values counted per bucket (`counts[i]` values in bucket i of
    `BUCKET_BOUNDS`), interpolating linearly inside the bucket that holds the middle value (the mean
    of the two middle ones for an even n); values in the last, open-ended bucket count as its lower
    bound. None when nothing was counted."""
    total = sum(counts)
    if not total:
        return None
    lows = (0, *BUCKET_BOUNDS)
    highs = (*BUCKET_BOUNDS, BUCKET_BOUNDS[-1])

    def value_at(rank: int) -> float:  # rank is 1-based
        seen = 0
        for index, n in enumerate(counts):
            if n and seen + n >= rank:
                share = (rank - seen - 0.5) / n
                return lows[index] + share * (highs[index] - lows[index])
            seen += n
        return float(lows[-1])

    middle = (value_at((total + 1) // 2) + value_at(total // 2 + 1)) / 2
    return round(middle / 3600.0, 2)


@dataclass
class OverdueAgent:
    employee_id: str
    name: str
    email: str
    vendor: str
    site: str
    team: str
    manager: str | None
    sop_id: str
    version: str
    due_at: datetime

    def to_dict(self) -> dict:
        return {**self.__dict__, "due_at": self.due_at.isoformat()}


def overdue_agents(
    session: Session, *, now: datetime, flt: CoverageFilter = CoverageFilter(), limit: int | None = None
) -> list[OverdueAgent]:
    query = (
        _base(
            [
                Agent.employee_id,
                Agent.name,
                Agent.email,
                Agent.vendor,
                Agent.site,
                Agent.team,
                Agent.manager,
                Requirement.sop_id,
                PublishedVersion.version,
                Assignment.due_at,
            ],
            flt,
        )
        .where(Assignment.acknowledged_at.is_(None), Assignment.due_at <= now)
        .order_by(Assignment.due_at, Agent.vendor, Agent.site, Agent.name)
    )
    if limit:
        query = query.limit(limit)
    return [OverdueAgent(*row) for row in session.execute(query).all()]


def acknowledgements_over_time(
    session: Session, requirement_id: int, *, flt: CoverageFilter = CoverageFilter(), buckets: int = 24
) -> list[dict]:
    """Cumulative acknowledgements since the requirement opened, for the live chart."""
    req = session.get(Requirement, requirement_id)
    if req is None:
        raise ReportError(f"no requirement {requirement_id}")
    scoped = CoverageFilter(
        requirement_id=requirement_id, vendor=flt.vendor, site=flt.site, team=flt.team, open_only=False
    )
    seconds = seconds_between(Assignment.acknowledged_at, Requirement.opened_at)
    acked = _base([seconds.label("s")], scoped).where(Assignment.acknowledged_at.is_not(None)).subquery()
    population = session.scalar(_base([func.count()], scoped)) or 0
    span = session.scalar(select(func.max(acked.c.s)))
    if span is None:
        return [{"hours": 0.0, "acknowledged": 0, "population": population}]
    span = max(float(span), 1.0)
    raw = cast(acked.c.s * buckets / span, Integer)
    bucket = case((raw > buckets - 1, buckets - 1), else_=raw).label("bucket")
    counts = dict(session.execute(select(bucket, func.count()).group_by(bucket)).all())
    points, total = [], 0
    for step in range(buckets):
        total += counts.get(step, 0)
        points.append(
            {"hours": round(span * (step + 1) / buckets / 3600.0, 2), "acknowledged": total, "population": population}
        )
    return points
