"""Readiness for a crisis: how many agents are ready to take calls, and how fast an open
bulletin is landing. (Not to be confused with `kb_app.readiness`, a node's /readyz probe.)

**Ready agent.** Active on the roster, certified for their tier (their latest certification of
every certification bank of that tier is valid or expiring, as `kb_app.quizzes.certification`
counts it: not expired, and no covered SOP got a new major since the pass), and every open
critical requirement covered. A requirement opens only for a material change (a major version,
or a changelog entry that asks for acknowledgement), so every open requirement is critical; a
bulletin past its `expires` stops counting, as its banner goes away. Covered means what coverage
counts: acknowledged, and where an update quiz gates the version for the agent's tier, the quiz
passed too (`kb_app.acks.gates`). A tier without a certification bank needs no certification.

Headcount is the active agents of a group; an agent who is not ready is counted once under the
first thing that holds them back: not certified, then a requirement not acknowledged, then an
update quiz still to pass after acknowledging.

**Bulletin projection.** For each open bulletin, the cumulative acknowledgements since it opened
against its deadline, and by vendor the projected time to full coverage at the current rate:
the acknowledgements of the last hour (or since opening, when younger), extrapolated linearly.
With no acknowledgement yet, or none in that window, there is no rate, and the projection says
so instead of inventing one.

Everything is aggregated in SQL, in a constant number of queries: the readiness table is three
whatever the grouping and the size of the roster (the open requirements and their gates, the SOPs
that had a later major, the aggregate), the bulletin projection three (the open bulletins, their
counts by vendor, their curves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, false, func, literal, or_, select, text, true
from sqlalchemy.orm import Session, aliased

from kb_app.models import Agent
from kb_app.models.acks import Acknowledgement, Assignment, PublishedVersion, Requirement
from kb_app.models.quizzes import Certification, CertificationSop, UpdateGate
from kb_app.quizzes.library import LoadedBanks
from kb_app.sqlfuncs import seconds_between
from kb_app.versions import acknowledged_at_least

GROUPS = {
    "vendor": Agent.vendor,
    "site": Agent.site,
    "team": Agent.team,
    "team_leader": Agent.manager,
    "language": Agent.language,
    "tier": Agent.tier,
}
RATE_WINDOW = timedelta(hours=1)
CURVE_POINTS = 24


class ReadinessError(ValueError):
    """A readiness question that cannot be answered as asked (an unknown grouping)."""


@dataclass(frozen=True)
class ReadinessFilter:
    vendor: str | None = None  # a partner manager's scope is always set here
    site: str | None = None
    team: str | None = None

    def apply(self, query):
        for value, column in ((self.vendor, Agent.vendor), (self.site, Agent.site), (self.team, Agent.team)):
            if value is not None:
                query = query.where(column == value)
        return query


def certification_banks_by_tier(loaded: LoadedBanks) -> dict[str, list[str]]:
    """Tier -> the ids of the certification banks an agent of that tier must hold."""
    result: dict[str, list[str]] = {}
    for bank in loaded.banks.values():
        if bank.kind == "certification":
            result.setdefault(bank.tier, []).append(bank.id)
    return {tier: sorted(ids) for tier, ids in result.items()}


# --- readiness by roster dimension --------------------------------------------------------------


@dataclass
class ReadinessRow:
    group: dict[str, Any]
    headcount: int  # active agents
    ready: int
    not_certified: int
    not_acknowledged: int  # certified, but an open requirement not acknowledged
    awaiting_quiz: int  # certified and everything acknowledged, but a gating update quiz not passed

    @property
    def not_ready(self) -> int:
        return self.headcount - self.ready

    @property
    def percent_ready(self) -> float:
        return round(100.0 * self.ready / self.headcount, 1) if self.headcount else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.group,
            "headcount": self.headcount,
            "ready": self.ready,
            "ready_pct": self.percent_ready,
            "not_ready": self.not_ready,
            "not_certified": self.not_certified,
            "not_acknowledged": self.not_acknowledged,
            "awaiting_quiz": self.awaiting_quiz,
        }


def _open_critical(now: datetime) -> ColumnElement[bool]:
    """Requirements that count: open, and not a bulletin past its expiry."""
    version = aliased(PublishedVersion)
    unexpired = (
        select(version.id)
        .where(version.id == Requirement.version_id, or_(version.expires_at.is_(None), version.expires_at > now))
        .exists()
    )
    return and_(Requirement.closed_at.is_(None), unexpired)


@dataclass(frozen=True)
class _Critical:
    """An open critical requirement, and the tiers an update quiz gates it for."""

    id: int
    sop_id: str
    major: int
    minor: int
    gated: frozenset[str]


def _critical_requirements(session: Session, now: datetime) -> list[_Critical]:
    """The open critical requirements with their gated tiers (one small query)."""
    rows = session.execute(
        select(Requirement.id, Requirement.sop_id, Requirement.major, Requirement.minor, UpdateGate.tier)
        .outerjoin(UpdateGate, UpdateGate.version_id == Requirement.version_id)
        .where(_open_critical(now))
        .order_by(Requirement.id)
    ).all()
    found: dict[int, _Critical] = {}
    for rid, sop_id, major, minor, tier in rows:
        known = found.get(rid)
        tiers = (known.gated if known else frozenset()) | ({tier} if tier else set())
        found[rid] = _Critical(rid, sop_id, major, minor, frozenset(tiers))
    return list(found.values())


def _bumped_sops(session: Session, now: datetime) -> list[str]:
    """SOPs with a version of a later major than their first: only those can end a pass (one
    small query; usually a handful, so the certification check reads only their rows)."""
    first = aliased(PublishedVersion)
    first_major = select(func.min(first.major)).where(first.sop_id == PublishedVersion.sop_id).scalar_subquery()
    return list(
        session.scalars(
            select(PublishedVersion.sop_id)
            .where(PublishedVersion.published_at <= now, PublishedVersion.major > first_major)
            .distinct()
            .order_by(PublishedVersion.sop_id)
        )
    )


def _valid_certifications(banks_by_tier: Mapping[str, Sequence[str]], now: datetime, bumped: list[str]):
    """Per agent, how many of each tier's certification banks they hold validly now: the latest
    certification per bank, not expired, no covered SOP given a new major since the pass (the
    rule of `kb_app.quizzes.certification`). Set-based: one pass over the latest certifications;
    the major-change check reads only the SOPs in `bumped`."""
    bank_ids = sorted({b for ids in banks_by_tier.values() for b in ids})
    latest = (
        select(Certification.agent_id, Certification.bank_id, func.max(Certification.id).label("id"))
        .where(Certification.bank_id.in_(bank_ids), Certification.certified_at <= now)
        .group_by(Certification.agent_id, Certification.bank_id)
        .subquery("latest")
    )
    counts = [
        func.sum(case((latest.c.bank_id.in_(list(ids)), 1), else_=0)).label(f"n_{tier.lower()}")
        for tier, ids in sorted(banks_by_tier.items())
        if ids
    ]
    query = (
        select(latest.c.agent_id, *counts)
        .join(Certification, Certification.id == latest.c.id)
        .where(Certification.expires_at > now)
        .group_by(latest.c.agent_id)
    )
    if bumped:
        passed = aliased(Certification)
        ended = (
            select(PublishedVersion.id)
            .join(passed, passed.id == CertificationSop.certification_id)
            .where(
                PublishedVersion.sop_id == CertificationSop.sop_id,
                PublishedVersion.major > CertificationSop.major_at_pass,
                PublishedVersion.published_at > passed.certified_at,
                PublishedVersion.published_at <= now,
            )
            .exists()
        )
        changed = select(CertificationSop.certification_id).where(
            CertificationSop.sop_id.in_(bumped), CertificationSop.major_at_pass.is_not(None), ended
        )
        query = query.where(Certification.id.not_in(changed))
    return query.subquery("certified")


def _open_work(critical: list[_Critical]):
    """Per agent, their uncovered assignments of the open critical requirements, read from the
    partial index of uncovered assignments: how many, how many an update quiz gates for each
    tier, and of those how many the agent has not acknowledged either (looked up for gated ones
    only: an ungated assignment is uncovered because it is not acknowledged)."""
    columns = [Assignment.agent_id, func.count().label("n_open")]
    for tier in ("T1", "T2"):
        gated = [c for c in critical if tier in c.gated]
        if not gated:
            columns += [literal(0).label(f"n_gated_{tier.lower()}"), literal(0).label(f"n_unacked_{tier.lower()}")]
            continue
        unacked = case(
            *(
                (
                    Assignment.requirement_id == c.id,
                    ~select(Acknowledgement.id)
                    .where(
                        Acknowledgement.agent_id == Assignment.agent_id,
                        acknowledged_at_least(c.sop_id, c.major, c.minor),
                    )
                    .exists(),
                )
                for c in gated
            ),
            else_=false(),
        )
        columns += [
            func.sum(_flag(Assignment.requirement_id.in_([c.id for c in gated]))).label(f"n_gated_{tier.lower()}"),
            func.sum(_flag(unacked)).label(f"n_unacked_{tier.lower()}"),
        ]
    return (
        select(*columns)
        .where(Assignment.acknowledged_at.is_(None), Assignment.requirement_id.in_([c.id for c in critical]))
        .group_by(Assignment.agent_id)
        .subquery("open_work")
    )


def _without_jit(session: Session) -> None:
    """PostgreSQL's planner prices the per-agent subqueries as if run once per agent (they run
    once, hashed), which trips its JIT threshold: compiling the plan then costs seconds while the
    query itself takes milliseconds. Switch JIT off for the rest of this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def _flag(condition) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def readiness(
    session: Session,
    *,
    by: list[str],
    now: datetime,
    certification_banks: Mapping[str, Sequence[str]],
    flt: ReadinessFilter = ReadinessFilter(),
) -> list[ReadinessRow]:
    """Active agents, and how many are ready, grouped by roster dimensions: three queries, two
    small ones (the open critical requirements and their gates; the SOPs that had a later major)
    and the aggregate. Each agent's valid certifications and open work are aggregated once
    (set-based, not one lookup per agent), joined to the roster, and counted by group and state."""
    for name in by:
        if name not in GROUPS:
            raise ReadinessError(f"cannot group readiness by {name!r}; choose from {', '.join(GROUPS)}")
    group_cols = [GROUPS[name].label(name) for name in by]
    _without_jit(session)
    critical = _critical_requirements(session, now)
    needed = [(tier, len(ids)) for tier, ids in sorted(certification_banks.items()) if ids]
    certified = _valid_certifications(certification_banks, now, _bumped_sops(session, now)) if needed else None
    work = _open_work(critical)
    is_certified: ColumnElement[bool] = true()
    if certified is not None:
        is_certified = case(
            *((Agent.tier == tier, func.coalesce(certified.c[f"n_{tier.lower()}"], 0) >= n) for tier, n in needed),
            else_=true(),
        )
    n_open = func.coalesce(work.c.n_open, 0)
    gated = case((Agent.tier == "T1", func.coalesce(work.c.n_gated_t1, 0)), else_=func.coalesce(work.c.n_gated_t2, 0))
    unacked = case(
        (Agent.tier == "T1", func.coalesce(work.c.n_unacked_t1, 0)), else_=func.coalesce(work.c.n_unacked_t2, 0)
    )
    # Each agent's state: the first thing that holds them back, or ready.
    state = case(
        (~is_certified, literal("not_certified")),
        (or_(n_open > gated, unacked > 0), literal("not_acknowledged")),
        (n_open > 0, literal("awaiting_quiz")),
        else_=literal("ready"),
    ).label("state")
    query = select(*group_cols, state).select_from(Agent)
    if certified is not None:
        query = query.outerjoin(certified, certified.c.agent_id == Agent.id)
    query = query.outerjoin(work, work.c.agent_id == Agent.id).where(Agent.active.is_(True))
    per_agent = flt.apply(query).subquery("per_agent")
    columns = [per_agent.c[name] for name in by]
    query = (
        select(*columns, per_agent.c.state, func.count().label("n"))
        .group_by(*columns, per_agent.c.state)
        .order_by(*columns)
    )
    totals: dict[tuple, ReadinessRow] = {}
    for row in session.execute(query).mappings():
        key = tuple(row[name] for name in by)
        total = totals.get(key)
        if total is None:
            total = totals[key] = ReadinessRow({name: row[name] for name in by}, 0, 0, 0, 0, 0)
        n = int(row["n"])
        total.headcount += n
        setattr(total, row["state"], getattr(total, row["state"]) + n)
    return list(totals.values())


def rollup(rows: Sequence[ReadinessRow], by: list[str]) -> list[ReadinessRow]:
    """Sum finer readiness rows (say by vendor, site, team) up to a prefix of their grouping
    (vendor, site): the group counts add up because every agent is in exactly one group."""
    totals: dict[tuple, ReadinessRow] = {}
    for row in rows:
        key = tuple(row.group.get(name) for name in by)
        total = totals.get(key)
        if total is None:
            total = totals[key] = ReadinessRow({name: row.group.get(name) for name in by}, 0, 0, 0, 0, 0)
        total.headcount += row.headcount
        total.ready += row.ready
        total.not_certified += row.not_certified
        total.not_acknowledged += row.not_acknowledged
        total.awaiting_quiz += row.awaiting_quiz
    return [totals[key] for key in sorted(totals, key=lambda k: tuple("" if v is None else str(v) for v in k))]


# --- open bulletins: the curve and the projection -----------------------------------------------


@dataclass
class Projection:
    """Time to full coverage of one bulletin for one vendor (or overall) at the current rate."""

    vendor: str | None  # None: every vendor in scope
    population: int
    acknowledged: int
    recent: int  # acknowledgements within the rate window
    window_hours: float
    due_at: datetime
    now: datetime
    projected_at: datetime | None = None
    note: str = ""

    @property
    def remaining(self) -> int:
        return self.population - self.acknowledged

    @property
    def percent_acknowledged(self) -> float:
        return round(100.0 * self.acknowledged / self.population, 1) if self.population else 0.0

    @property
    def rate_per_hour(self) -> float | None:
        return round(self.recent / self.window_hours, 1) if self.recent and self.window_hours > 0 else None

    @property
    def hours_to_full(self) -> float | None:
        if self.projected_at is None:
            return None
        return round((self.projected_at - self.now).total_seconds() / 3600.0, 1)

    @property
    def state(self) -> str:
        """complete | on_track | late | cannot_project | no_agents"""
        if not self.population:
            return "no_agents"
        if not self.remaining:
            return "complete"
        if self.projected_at is None:
            return "cannot_project"
        return "on_track" if self.projected_at <= self.due_at else "late"

    def to_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "population": self.population,
            "acknowledged": self.acknowledged,
            "acknowledged_pct": self.percent_acknowledged,
            "remaining": self.remaining,
            "acknowledged_last_window": self.recent,
            "window_hours": round(self.window_hours, 2),
            "rate_per_hour": self.rate_per_hour,
            "state": self.state,
            "projected_full_at": self.projected_at.isoformat() if self.projected_at else None,
            "hours_to_full": self.hours_to_full,
            "note": self.note,
        }


def project(
    *, vendor: str | None, population: int, acknowledged: int, recent: int, window: timedelta, due_at, now
) -> Projection:
    """Linear extrapolation of the recent rate; no rate, no projection."""
    hours = window.total_seconds() / 3600.0
    result = Projection(vendor, population, acknowledged, recent, hours, due_at, now)
    if not population:
        result.note = "no agents in this bulletin's audience"
    elif acknowledged >= population:
        result.note = "every agent has acknowledged"
    elif not acknowledged:
        result.note = "no acknowledgements yet, cannot project"
    elif not recent:
        minutes = round(window.total_seconds() / 60)
        result.note = f"no acknowledgements in the last {minutes} minutes, cannot project"
    else:
        rate = recent / hours
        result.projected_at = now + timedelta(hours=(population - acknowledged) / rate)
        late = result.projected_at > due_at
        result.note = "projected after the deadline" if late else "projected before the deadline"
    return result


@dataclass
class CurvePoint:
    hours: float  # since the bulletin opened
    acknowledged: int  # cumulative


@dataclass
class BulletinReadiness:
    requirement_id: int
    sop_id: str
    version: str
    title: str
    visibility: str
    opened_at: datetime
    due_at: datetime
    now: datetime
    overall: Projection
    by_vendor: list[Projection] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)

    @property
    def deadline_hours(self) -> float:
        return round((self.due_at - self.opened_at).total_seconds() / 3600.0, 2)

    @property
    def elapsed_hours(self) -> float:
        return round(max((self.now - self.opened_at).total_seconds(), 0.0) / 3600.0, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requirement_id": self.requirement_id,
            "sop_id": self.sop_id,
            "version": self.version,
            "title": self.title,
            "opened_at": self.opened_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "deadline_hours": self.deadline_hours,
            "elapsed_hours": self.elapsed_hours,
            "overall": self.overall.to_dict(),
            "by_vendor": [p.to_dict() for p in self.by_vendor],
            "curve": [{"hours": p.hours, "acknowledged": p.acknowledged} for p in self.curve],
        }


def open_bulletins(
    session: Session,
    *,
    now: datetime,
    flt: ReadinessFilter = ReadinessFilter(),
    tier: str = "T2",
    window: timedelta = RATE_WINDOW,
    points: int = CURVE_POINTS,
) -> list[BulletinReadiness]:
    """Every open, unexpired bulletin the reader's `tier` may see, with its curve and projections
    (three queries whatever the number of bulletins)."""
    found = session.execute(
        select(
            Requirement.id,
            Requirement.sop_id,
            Requirement.opened_at,
            Requirement.due_at,
            PublishedVersion.version,
            PublishedVersion.title,
            PublishedVersion.visibility,
            PublishedVersion.tier_hashes,
        )
        .join(PublishedVersion, PublishedVersion.id == Requirement.version_id)
        .where(Requirement.is_bulletin.is_(True), _open_critical(now), Requirement.opened_at <= now)
        .order_by(Requirement.opened_at.desc(), Requirement.id)
    ).all()
    # A Tier 1 reader cannot tell a Tier 2-only bulletin from none.
    bulletins = [row for row in found if tier in (row.tier_hashes or {})]
    if not bulletins:
        return []
    ids = [r.id for r in bulletins]
    acked = and_(Assignment.acknowledged_at.is_not(None), Assignment.acknowledged_at <= now)
    since = now - window
    counts = flt.apply(
        select(
            Assignment.requirement_id,
            Agent.vendor,
            func.count().label("population"),
            func.sum(_flag(acked)).label("acknowledged"),
            func.sum(
                _flag(
                    and_(acked, Assignment.acknowledged_at > since, Assignment.acknowledged_at > Requirement.opened_at)
                )
            ).label("recent"),
        )
        .select_from(Assignment)
        .join(Agent, Agent.id == Assignment.agent_id)
        .join(Requirement, Requirement.id == Assignment.requirement_id)
        .where(Assignment.requirement_id.in_(ids), Agent.active.is_(True))
        .group_by(Assignment.requirement_id, Agent.vendor)
        .order_by(Assignment.requirement_id, Agent.vendor)
    )
    by_requirement: dict[int, list] = {}
    for row in session.execute(counts).mappings():
        by_requirement.setdefault(row["requirement_id"], []).append(row)
    curves = _curves(session, bulletins, now=now, flt=flt, points=points)
    result = []
    for requirement in bulletins:
        rows = by_requirement.get(requirement.id, [])
        effective = min(window, max(now - requirement.opened_at, timedelta(seconds=1)))
        vendors = [
            project(
                vendor=row["vendor"],
                population=int(row["population"]),
                acknowledged=int(row["acknowledged"] or 0),
                recent=int(row["recent"] or 0),
                window=effective,
                due_at=requirement.due_at,
                now=now,
            )
            for row in rows
        ]
        overall = project(
            vendor=None,
            population=sum(p.population for p in vendors),
            acknowledged=sum(p.acknowledged for p in vendors),
            recent=sum(p.recent for p in vendors),
            window=effective,
            due_at=requirement.due_at,
            now=now,
        )
        result.append(
            BulletinReadiness(
                requirement_id=requirement.id,
                sop_id=requirement.sop_id,
                version=requirement.version,
                title=requirement.title,
                visibility=requirement.visibility,
                opened_at=requirement.opened_at,
                due_at=requirement.due_at,
                now=now,
                overall=overall,
                by_vendor=vendors,
                curve=curves.get(requirement.id, []),
            )
        )
    return result


def _curves(session: Session, bulletins, *, now: datetime, flt: ReadinessFilter, points: int) -> dict[int, list]:
    """Cumulative acknowledgements at `points` equal steps from each bulletin's opening to the
    later of now and its deadline: one grouped count per (bulletin, step)."""
    spans = {r.id: max((max(now, r.due_at) - r.opened_at).total_seconds(), 1.0) for r in bulletins}
    span = case(*((Requirement.id == rid, literal(s)) for rid, s in spans.items()), else_=literal(1.0))
    offset = seconds_between(Assignment.acknowledged_at, Requirement.opened_at)
    raw = cast(offset * points / span, Integer)
    step = case((raw < 0, 0), (raw > points - 1, points - 1), else_=raw).label("step")
    query = flt.apply(
        select(Assignment.requirement_id, step, func.count().label("n"))
        .select_from(Assignment)
        .join(Agent, Agent.id == Assignment.agent_id)
        .join(Requirement, Requirement.id == Assignment.requirement_id)
        .where(
            Assignment.requirement_id.in_(list(spans)),
            Agent.active.is_(True),
            Assignment.acknowledged_at.is_not(None),
            Assignment.acknowledged_at <= now,
        )
        .group_by(Assignment.requirement_id, step)
    )
    counts: dict[int, dict[int, int]] = {}
    for requirement_id, index, n in session.execute(query).all():
        counts.setdefault(requirement_id, {})[int(index)] = int(n)
    curves = {}
    opened = {r.id: r.opened_at for r in bulletins}
    for requirement_id, seconds in spans.items():
        elapsed = max((now - opened[requirement_id]).total_seconds(), 0.0)
        total, curve = 0, [CurvePoint(0.0, 0)]
        for index in range(points):
            total += counts.get(requirement_id, {}).get(index, 0)
            at = seconds * (index + 1) / points
            if at > elapsed:  # the steps after now are the future: the projection, not the curve
                curve.append(CurvePoint(round(elapsed / 3600.0, 2), total))
                break
            curve.append(CurvePoint(round(at / 3600.0, 2), total))
        curves[requirement_id] = curve
    return curves


# --- the report the page, the command and the digest show --------------------------------------


@dataclass
class ReadinessReport:
    by: list[str]
    rows: list[ReadinessRow]
    total: ReadinessRow
    bulletins: list[BulletinReadiness]
    certification_banks: dict[str, list[str]]
    vendor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "vendor": self.vendor,
            "certification_banks": self.certification_banks,
            "total": self.total.to_dict(),
            "rows": [row.to_dict() for row in self.rows],
            "bulletins": [b.to_dict() for b in self.bulletins],
        }


def readiness_report(
    session: Session,
    *,
    by: list[str],
    now: datetime,
    banks: LoadedBanks,
    flt: ReadinessFilter = ReadinessFilter(),
    tier: str = "T2",
) -> ReadinessReport:
    """Readiness by `by` with its total, and the open bulletins `tier` (the reader's audience)
    may see: six queries."""
    certification_banks = certification_banks_by_tier(banks)
    rows = readiness(session, by=by, now=now, certification_banks=certification_banks, flt=flt)
    [total] = rollup(rows, []) or [ReadinessRow({}, 0, 0, 0, 0, 0)]
    bulletins = open_bulletins(session, now=now, flt=flt, tier=tier)
    # A Tier 1 reader is told which Tier 1 banks count, never the names of Tier 2 ones.
    shown = {t: ids for t, ids in certification_banks.items() if tier == "T2" or t == tier}
    return ReadinessReport(by, rows, total, bulletins, shown, flt.vendor)
