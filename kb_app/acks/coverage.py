"""Coverage of acknowledgement requirements, rolled up by roster dimension, computed in SQL.

Coverage states for one agent and one requirement:
on time (acknowledged by their due date), late (acknowledged after it), pending (not yet
acknowledged, not yet due), overdue (not acknowledged, due date passed). Deactivated agents
leave the population.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from datetime import datetime, timezone

from sqlalchemy import Integer, Select, String, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from kb_app.models.quizzes import UpdateGate
from kb_app.versions import at_least
from kb_app.models import Agent
from kb_app.models.acks import Acknowledgement, Assignment, PublishedVersion, Requirement
from kb_app.models.rollups import BUCKET_BOUNDS, BUCKETS, CoverageRollup
from kb_app.sqlfuncs import seconds_between, string_list

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
    team_leader: str | None = None
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
    awaiting_quiz_overdue: int = 0  # of those, past their due date

    @property
    def acknowledged(self) -> int:
        return self.on_time + self.late

    @property
    def awaiting_quiz_pending(self) -> int:
        """Of the pending: acknowledged, awaiting the update quiz."""
        return self.awaiting_quiz - self.awaiting_quiz_overdue

    @property
    def unacknowledged_pending(self) -> int:
        return self.pending - self.awaiting_quiz_pending

    @property
    def unacknowledged_overdue(self) -> int:
        return self.overdue - self.awaiting_quiz_overdue

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
        (flt.team_leader, Agent.manager),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


def coverage(
    session: Session,
    *,
    by: list[str],
    now: datetime,
    flt: CoverageFilter = CoverageFilter(),
    sort: str | None = None,
    descending: bool = False,
) -> list[CoverageRow]:
    """Coverage grouped `by` roster dimensions (and/or requirement), from the rollups: two queries
    over one row per requirement and roster cell, whatever the number of assignments."""
    group_cols = _rollup_group_columns(by)
    sort_rows([], sort, groups=[c.name for c in group_cols])  # refuse an unknown column before querying
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
        (flt.team_leader, r.manager),
    ):
        if value is not None:
            query = query.where(column == value)
    awaiting = _awaiting_quiz(session, _group_columns(by), flt, now)
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
                awaiting_quiz=sum(awaiting.get(key, (0, 0))),
                awaiting_quiz_overdue=awaiting.get(key, (0, 0))[1],
            )
        )
    return sort_rows(rows, sort, descending=descending, groups=[c.name for c in group_cols])


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
    session: Session,
    *,
    by: list[str],
    now: datetime,
    flt: CoverageFilter = CoverageFilter(),
    sort: str | None = None,
    descending: bool = False,
) -> list[CoverageRow]:
    """The same report as `coverage`, aggregated from the assignment rows themselves: what
    `kb report coverage --verify` and the rollup property tests compare the rollups with."""
    group_cols = _group_columns(by)
    sort_rows([], sort, groups=[c.name for c in group_cols])  # refuse an unknown column before querying
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
    awaiting = _awaiting_quiz(session, group_cols, flt, now)
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
                awaiting_quiz=sum(awaiting.get(key, (0, 0))),
                awaiting_quiz_overdue=awaiting.get(key, (0, 0))[1],
            )
        )
    return sort_rows(rows, sort, descending=descending, groups=[c.name for c in group_cols])


# Columns a coverage table sorts by; "worst" (the default) puts the lowest share acknowledged
# first, then the most overdue.
SORT_KEYS = {
    "worst": lambda r: (r.percent_acknowledged, -r.overdue, -r.population),
    "population": lambda r: r.population,
    "acknowledged": lambda r: r.percent_acknowledged,
    "on_time": lambda r: r.on_time,
    "late": lambda r: r.late,
    "pending": lambda r: r.pending,
    "overdue": lambda r: r.overdue,
    "awaiting_quiz": lambda r: r.awaiting_quiz,
    "median": lambda r: (r.median_hours_to_ack is None, r.median_hours_to_ack or 0.0),
}


def sort_rows(
    rows: list[CoverageRow], sort: str | None, *, descending: bool = False, groups: list[str] | None = None
) -> list[CoverageRow]:
    """Order the aggregated rows (one per group, never per agent) by a column of SORT_KEYS or by
    one of `groups` (the row's group names); None keeps the groups' own order."""
    if sort is None:
        return rows
    if sort in SORT_KEYS:
        key = SORT_KEYS[sort]
    elif groups is not None and sort in groups:

        def key(row: CoverageRow):
            value = row.group.get(sort)
            return (value is None, str(value if value is not None else "").lower())

    else:
        choices = [*SORT_KEYS, *(groups or [])]
        raise ReportError(f"cannot sort coverage by {sort!r}; choose from {', '.join(choices)}")
    return sorted(rows, key=key, reverse=descending)


def _awaiting_quiz(session: Session, group_cols, flt: CoverageFilter, now: datetime) -> dict[tuple, tuple[int, int]]:
    """Uncovered assignments whose agent did acknowledge, on requirements gated by an update quiz
    of the agent's tier: (not yet due, overdue) per group. Most requirements have no update
    quiz: only the gated ones are scanned."""
    gated_requirements = select(Requirement.id).join(UpdateGate, UpdateGate.version_id == Requirement.version_id)
    if flt.open_only:
        gated_requirements = gated_requirements.where(Requirement.closed_at.is_(None))
    requirement_ids = sorted(set(session.scalars(gated_requirements)))
    if not requirement_ids:
        return {}
    query = (
        _base(
            [
                *group_cols,
                func.sum(case((Assignment.due_at > now, 1), else_=0)).label("pending"),
                func.sum(case((Assignment.due_at <= now, 1), else_=0)).label("overdue"),
            ],
            flt,
        )
        .where(Requirement.id.in_(requirement_ids), Assignment.acknowledged_at.is_(None), awaiting_quiz_condition())
        .group_by(*group_cols)
    )
    names = [c.name for c in group_cols]
    return {
        tuple(row[n] for n in names): (int(row["pending"] or 0), int(row["overdue"] or 0))
        for row in session.execute(query).mappings()
    }


def awaiting_quiz_condition():
    """True for an assignment row (joined with its Requirement and Agent) whose agent acknowledged
    the version, on a requirement gated by an update quiz of the agent's tier."""
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
    return and_(gated, satisfied)


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


@dataclass(frozen=True)
class OwedSop:
    sop_id: str
    version: str
    due_at: datetime
    awaiting_quiz: bool  # acknowledged, but the update quiz that gates the version is not passed

    @property
    def label(self) -> str:
        return f"{self.sop_id} v{self.version}" + (" (acknowledged, awaiting quiz)" if self.awaiting_quiz else "")


@dataclass
class OverdueAgentRow:
    """One overdue agent with every SOP they owe (overdue), oldest due first."""

    agent_id: int
    employee_id: str
    name: str
    email: str
    vendor: str
    site: str
    team: str
    team_leader: str | None
    owed: int
    oldest_due_at: datetime
    sops: list[OwedSop]

    @property
    def awaiting_quiz(self) -> int:
        return sum(1 for sop in self.sops if sop.awaiting_quiz)

    def to_dict(self) -> dict:
        return {
            "employee_id": self.employee_id,
            "name": self.name,
            "email": self.email,
            "vendor": self.vendor,
            "site": self.site,
            "team": self.team,
            "team_leader": self.team_leader or "",
            "owed": self.owed,
            "awaiting_quiz": self.awaiting_quiz,
            "oldest_due_at": self.oldest_due_at.isoformat(),
            "sops": "; ".join(sop.label for sop in self.sops),
        }


OVERDUE_EXPORT_COLUMNS = [
    "employee_id",
    "name",
    "email",
    "vendor",
    "site",
    "team",
    "team_leader",
    "owed",
    "awaiting_quiz",
    "oldest_due_at",
    "sops",
]
OVERDUE_SORTS = {
    "name": Agent.name,
    "employee_id": Agent.employee_id,
    "vendor": Agent.vendor,
    "site": Agent.site,
    "team": Agent.team,
    "team_leader": Agent.manager,
    "owed": "owed",
    "oldest_due": "oldest_due_at",
}
_ITEM_SEPARATOR, _FIELD_SEPARATOR = "\x1e", "\x1f"  # never in an SOP id, a version or an ISO time


def overdue_assignments(flt: CoverageFilter, now: datetime, columns) -> Select:
    """SELECT `columns` over the overdue assignments of active agents in `flt`."""
    return _base(columns, flt).where(Assignment.acknowledged_at.is_(None), Assignment.due_at <= now)


def overdue_by_agent(
    session: Session,
    *,
    now: datetime,
    flt: CoverageFilter = CoverageFilter(),
    sort: str = "oldest_due",
    descending: bool = False,
    limit: int | None = None,
) -> list[OverdueAgentRow]:
    """Agents with at least one overdue acknowledgement, one row each with the SOPs they owe: one
    query, grouped by agent in SQL (the SOP list is aggregated into one string per agent)."""
    if sort not in OVERDUE_SORTS:
        raise ReportError(f"cannot sort overdue agents by {sort!r}; choose from {', '.join(OVERDUE_SORTS)}")
    awaiting = case((awaiting_quiz_condition(), "1"), else_="0")
    item = (
        Requirement.sop_id
        + literal(_FIELD_SEPARATOR)
        + PublishedVersion.version
        + literal(_FIELD_SEPARATOR)
        + cast(Assignment.due_at, String)
        + literal(_FIELD_SEPARATOR)
        + awaiting
    )
    owed = func.count().label("owed")
    oldest = func.min(Assignment.due_at).label("oldest_due_at")
    query = overdue_assignments(
        flt,
        now,
        [
            Agent.id,
            Agent.employee_id,
            Agent.name,
            Agent.email,
            Agent.vendor,
            Agent.site,
            Agent.team,
            Agent.manager,
            owed,
            oldest,
            string_list(item, _ITEM_SEPARATOR).label("items"),
        ],
    ).group_by(
        Agent.id, Agent.employee_id, Agent.name, Agent.email, Agent.vendor, Agent.site, Agent.team, Agent.manager
    )
    aggregates: dict[str, Any] = {"owed": owed, "oldest_due_at": oldest}
    column = OVERDUE_SORTS[sort]
    order: Any = aggregates[column] if isinstance(column, str) else column
    query = query.order_by(order.desc() if descending else order.asc(), Agent.name, Agent.employee_id)
    if limit:
        query = query.limit(limit)
    rows = []
    for row in session.execute(query).all():
        sops = sorted(
            (_owed_sop(part, row.oldest_due_at) for part in (row.items or "").split(_ITEM_SEPARATOR) if part),
            key=lambda sop: (sop.due_at, sop.sop_id),
        )
        rows.append(
            OverdueAgentRow(
                agent_id=row.id,
                employee_id=row.employee_id,
                name=row.name,
                email=row.email,
                vendor=row.vendor,
                site=row.site,
                team=row.team,
                team_leader=row.manager,
                owed=int(row.owed),
                oldest_due_at=_aware(row.oldest_due_at),
                sops=sops,
            )
        )
    return rows


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _owed_sop(part: str, fallback: datetime) -> OwedSop:
    sop_id, version, due, awaiting = part.split(_FIELD_SEPARATOR)
    try:
        due_at = _aware(datetime.fromisoformat(due))
    except ValueError:
        due_at = _aware(fallback)
    return OwedSop(sop_id=sop_id, version=version, due_at=due_at, awaiting_quiz=awaiting == "1")


@dataclass
class OverdueChoices:
    """What the overdue filters can choose from, within the reader's scope."""

    vendors: list[str]
    sites: list[str]
    teams: list[str]
    team_leaders: list[str]
    sops: list[str]


def overdue_choices(session: Session, *, now: datetime, vendor: str | None = None) -> OverdueChoices:
    """The distinct vendors, sites, teams, team leaders and SOPs among overdue assignments (one
    query), for the filter menus; a partner manager's `vendor` confines them."""
    query = overdue_assignments(
        CoverageFilter(vendor=vendor), now, [Agent.vendor, Agent.site, Agent.team, Agent.manager, Requirement.sop_id]
    ).distinct()
    found: list[set[str]] = [set(), set(), set(), set(), set()]
    for row in session.execute(query).all():
        for values, value in zip(found, row):
            if value:
                values.add(value)
    return OverdueChoices(*(sorted(values, key=str.lower) for values in found))


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
