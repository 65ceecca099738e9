"""`kb publish`: record new SOP versions and open acknowledgement requirements, in one transaction.

The catalog (git) says what the text is now; the database says what was published. Publishing
compares the two, refuses text changed without a version bump, records each new version with a
snapshot of its text, opens a requirement when the change needs acknowledging, and assigns it to
every active agent in the audience (new hires later get it with an onboarding due date).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from kb_app.acks import rollups
from kb_app.acks.gates import gated_tiers, mark_covered_assignments, record_gate_decisions
from kb_app.acks.translations import TranslationItem, plan_translations, record_translations
from kb_app.catalog import Catalog, Kind, Sop, Status, parse_version
from kb_app.models import Agent, Release
from kb_app.models.acks import (
    Acknowledgement,
    Assignment,
    PublishedVersion,
    Requirement,
    RequirementTarget,
    seconds_between_times,
)
from kb_app.versions import at_least, latest_version, latest_versions, tier_floors

ASSIGNMENT_CHUNK = 2000
DIMENSIONS = {"tier": Agent.tier, "vendor": Agent.vendor, "site": Agent.site, "language": Agent.language}


class PublishRefused(Exception):
    """The catalog cannot be published as it is; nothing was written."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class PublishItem:
    sop_id: str
    version: str
    action: str  # new | major | minor | retire | unchanged
    previous_version: str | None = None
    summary: str = ""
    opens_requirement: bool = False
    due_at: datetime | None = None
    population: int = 0
    closes: list[str] = field(default_factory=list)
    quiz_gates: list[str] = field(default_factory=list)  # update banks the acknowledgement waits for
    # Tiers of the audience whose text is exactly as in the previous version: their agents are not
    # asked again (an acknowledgement of the unchanged text covers the new version for them).
    unchanged_tiers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "sop_id": self.sop_id,
            "version": self.version,
            "action": self.action,
            "previous_version": self.previous_version,
            "summary": self.summary,
            "opens_requirement": self.opens_requirement,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "population": self.population,
            "closes": self.closes,
            "quiz_gates": self.quiz_gates,
            "unchanged_tiers": self.unchanged_tiers,
        }


@dataclass
class PublishPlan:
    items: list[PublishItem]
    problems: list[str]
    translations: list[TranslationItem] = field(default_factory=list)  # translation texts to record
    release_id: int | None = None  # set by `publish` when it recorded a release

    @property
    def changes(self) -> list[PublishItem]:
        return [i for i in self.items if i.action != "unchanged"]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.translations)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "changes": [i.to_dict() for i in self.changes],
            "translations": [t.to_dict() for t in self.translations],
            "unchanged": len(self.items) - len(self.changes),
        }


def audience_targets(audience: dict) -> list[tuple[str, str]]:
    plural = {"tier": "tiers", "vendor": "vendors", "site": "sites", "language": "languages"}
    return [(dim, value) for dim, key in plural.items() for value in audience.get(key) or []]


def population_filter(targets: list[tuple[str, str]]):
    """SQL condition selecting the active agents an audience covers."""
    conditions = [Agent.active.is_(True)]
    for dimension, column in DIMENSIONS.items():
        values = [v for d, v in targets if d == dimension]
        if values:
            conditions.append(column.in_(values))
    return and_(*conditions)


def due_for_new_hire(requirement_due: datetime, opened_at: datetime, start_date, onboarding_days: int) -> datetime:
    """An agent who started after the requirement opened gets an onboarding window from their start."""
    if start_date <= opened_at.date():
        return requirement_due
    onboarding_due = datetime.combine(start_date + timedelta(days=onboarding_days), time(0, 0), timezone.utc)
    return max(requirement_due, onboarding_due)


def _due_at(sop: Sop, now: datetime, due_days: int) -> datetime:
    if sop.kind is Kind.BULLETIN and sop.ack_within is not None:
        return now + sop.ack_within
    return now + timedelta(days=due_days)


def _ack_required(sop: Sop) -> bool:
    entry = next((c for c in sop.changelog if c.version == sop.version), None)
    return bool(entry and entry.ack_required)


def _audience_tiers(sop: Sop) -> list[str]:
    return [tier for tier in (sop.audience.tiers or ("T1", "T2")) if sop.visible_to(tier)]


def _unchanged_tiers(sop: Sop, previous: PublishedVersion) -> list[str]:
    """The audience's tiers that read exactly the text they read in `previous`."""
    before = previous.tier_hashes or {}
    return [tier for tier in _audience_tiers(sop) if before.get(tier) == sop.content_hash_for(tier)]


def _summary(sop: Sop) -> str:
    entry = next((c for c in sop.changelog if c.version == sop.version), None)
    return entry.summary if entry else ""


def plan_publish(
    session: Session, catalog: Catalog, *, now: datetime, due_days: int = 7, quiz_banks=None
) -> PublishPlan:
    """What `publish` would record, without writing anything.

    `quiz_banks` (a `kb_app.quizzes.library.LoadedBanks`) names the update quizzes that will gate
    each new version's acknowledgement.
    """
    latest = latest_versions(session)
    open_requirements = {
        r.sop_id: r for r in session.scalars(select(Requirement).where(Requirement.closed_at.is_(None)))
    }
    items: list[PublishItem] = []
    problems: list[str] = []
    for sop in catalog:
        if sop.status is Status.DRAFT:
            continue
        previous = latest.get(sop.id)
        item = PublishItem(sop.id, sop.version, "unchanged", previous.version if previous else None, _summary(sop))
        if previous is None:
            if sop.status is Status.RETIRED:
                continue  # never published and already retired: nothing to record
            item.action = "new"
        elif previous.version == sop.version:
            if previous.content_hash != sop.content_hash:
                problems.append(
                    f"{sop.path}: text of {sop.id} changed but version is still {sop.version} (published {previous.published_at:%Y-%m-%d}); bump the version"
                )
                continue
            if sop.status is Status.RETIRED and previous.status != "retired":
                item.action = "retire"
        elif parse_version(sop.version) < parse_version(previous.version):
            problems.append(
                f"{sop.path}: version of {sop.id} went backwards: {previous.version} is published, the file says {sop.version}"
            )
            continue
        elif sop.status is Status.RETIRED:
            item.action = "retire"
        else:
            item.action = "major" if sop.major > previous.major else "minor"
        # An SOP new to the platform is new to every agent: its first publication always asks
        # for acknowledgement; later versions ask when the changelog says so (major by default).
        needs_ack = item.action == "new" or _ack_required(sop)
        if previous is not None and item.action in {"major", "minor"}:
            item.unchanged_tiers = _unchanged_tiers(sop, previous)
            if needs_ack and set(item.unchanged_tiers) >= set(_audience_tiers(sop)):
                # No reader of any tier sees a different text: nothing new to acknowledge, and the
                # open requirement of the previous version (the same text) stays open.
                needs_ack = False
        if item.action in {"new", "major", "minor"} and sop.status is Status.ACTIVE and needs_ack:
            item.opens_requirement = True
            item.due_at = _due_at(sop, now, due_days)
            targets = audience_targets(sop.audience.model_dump())
            item.population = (
                session.scalar(select(func.count()).select_from(Agent).where(population_filter(targets))) or 0
            )
        if (item.action in {"retire"} or item.opens_requirement) and sop.id in open_requirements:
            item.closes.append(f"{sop.id} v{open_requirements[sop.id].version.version}")
        if quiz_banks is not None and item.action in {"new", "major", "minor"}:
            item.quiz_gates = sorted(bank.id for bank in quiz_banks.update_banks_for(sop.id, sop.version))
        items.append(item)
    return PublishPlan(items, problems, plan_translations(session, catalog))


def _record_version(session: Session, sop: Sop, item: PublishItem, now: datetime, by: str) -> PublishedVersion:
    row = PublishedVersion(
        sop_id=sop.id,
        version=sop.version,
        major=sop.major,
        minor=sop.minor,
        kind=sop.kind.value,
        status="retired" if sop.status is Status.RETIRED else "active",
        visibility=sop.visibility.value,
        title=sop.title,
        path=sop.rel_path or sop.path,
        content_hash=sop.content_hash,
        tier_hashes={tier: sop.content_hash_for(tier) for tier in ("T1", "T2") if sop.visible_to(tier)},
        body=sop.body,
        sections=[s.to_dict() for s in sop.sections],
        audience=sop.audience.model_dump(),
        summary=item.summary,
        ack_required=item.opens_requirement,
        expires_at=sop.expires,
        published_at=now,
        published_by=by,
    )
    session.add(row)
    session.flush()
    return row


def _close_open(session: Session, sop_id: str, now: datetime, reason: str) -> None:
    session.execute(
        update(Requirement)
        .where(Requirement.sop_id == sop_id, Requirement.closed_at.is_(None))
        .values(closed_at=now, closed_reason=reason)
    )


def open_requirement(session: Session, version: PublishedVersion, due_at: datetime, now: datetime) -> Requirement:
    requirement = Requirement(
        version_id=version.id,
        sop_id=version.sop_id,
        major=version.major,
        minor=version.minor,
        opened_at=now,
        due_at=due_at,
        is_bulletin=version.kind == "bulletin",
        targets=[RequirementTarget(dimension=d, value=v) for d, v in audience_targets(version.audience)],
    )
    session.add(requirement)
    session.flush()
    return requirement


def publish(
    session: Session,
    catalog: Catalog,
    *,
    now: datetime,
    by: str,
    due_days: int = 7,
    onboarding_days: int = 14,
    quiz_banks=None,
) -> PublishPlan:
    """Apply the plan inside the caller's transaction. Raises PublishRefused, writing nothing.

    With `quiz_banks`, the update quizzes that gate each new version are recorded in the same
    transaction, so a later edit of a bank file cannot change whose acknowledgement counts.
    """
    if not catalog.ok:
        raise PublishRefused([str(p) for p in catalog.problems if p.is_error])
    plan = plan_publish(session, catalog, now=now, due_days=due_days, quiz_banks=quiz_banks)
    if not plan.ok:
        raise PublishRefused(plan.problems)
    carried: list[tuple[int, int, list[str]]] = []  # (new requirement, superseded one, unchanged tiers)
    for item in plan.changes:
        sop = catalog.get(item.sop_id)
        if item.action == "retire" and item.version == item.previous_version:
            latest = latest_version(session, sop.id)
            latest.status = "retired"
        else:
            version = _record_version(session, sop, item, now, by)
        if item.action == "retire":
            _close_open(session, sop.id, now, "retired")
        elif item.opens_requirement:
            superseded = session.scalar(
                select(Requirement.id).where(Requirement.sop_id == sop.id, Requirement.closed_at.is_(None))
            )
            _close_open(session, sop.id, now, "superseded")
            requirement = open_requirement(session, version, item.due_at, now)
            if superseded is not None and item.unchanged_tiers:
                carried.append((requirement.id, superseded, item.unchanged_tiers))
    # After the versions: a translation's lag is measured from its source's publish.
    record_translations(session, catalog, plan.translations, now=now, by=by)
    if quiz_banks is not None and plan.changes:
        record_gate_decisions(session, quiz_banks, now=now, final=False)
    sync_assignments(session, now=now, onboarding_days=onboarding_days)
    for new_id, old_id, tiers in carried:
        _carry_over_due_dates(session, new_id, old_id, tiers)
    if plan.has_changes:
        release = Release(
            catalog_hash=catalog.release_hash,
            published_at=now,
            published_by=by,
            versions=[f"{item.sop_id} v{item.version}" for item in plan.changes]
            + [f"{t.sop_id} ({t.language}) of v{t.source_version}" for t in plan.translations],
        )
        session.add(release)
        session.flush()
        plan.release_id = release.id
    return plan


def _carry_over_due_dates(session: Session, new_id: int, old_id: int, tiers: list[str]) -> None:
    """An agent of a tier whose text did not change, who still owed the superseded version, owes
    the same text by the same date: the new version's requirement does not restart their clock."""
    old = aliased(Assignment)
    owed_before = (
        select(old.due_at)
        .where(old.requirement_id == old_id, old.agent_id == Assignment.agent_id, old.acknowledged_at.is_(None))
        .scalar_subquery()
    )
    session.execute(
        update(Assignment)
        .where(
            Assignment.requirement_id == new_id,
            Assignment.acknowledged_at.is_(None),
            Assignment.agent_id.in_(select(Agent.id).where(Agent.tier.in_(tiers))),
            Assignment.agent_id.in_(
                select(old.agent_id).where(old.requirement_id == old_id, old.acknowledged_at.is_(None))
            ),
        )
        .values(due_at=owed_before)
        .execution_options(synchronize_session=False)
    )


def sync_assignments(session: Session, *, now: datetime, onboarding_days: int = 14) -> int:
    """Give every open requirement's population its assignments (new hires included).

    Idempotent; returns the number of assignments created. Run after publishing and after a
    roster import; `kb remind` runs it too.
    """
    created = 0
    requirements = session.scalars(select(Requirement).where(Requirement.closed_at.is_(None))).all()
    for requirement in requirements:
        targets = [(t.dimension, t.value) for t in requirement.targets]
        assigned = select(Assignment.agent_id).where(Assignment.requirement_id == requirement.id)
        missing = session.execute(
            select(Agent.id, Agent.start_date).where(population_filter(targets), Agent.id.not_in(assigned))
        ).all()
        if not missing:
            continue
        rows = [
            {
                "requirement_id": requirement.id,
                "agent_id": agent_id,
                "assigned_at": now,
                "due_at": due_for_new_hire(requirement.due_at, requirement.opened_at, start_date, onboarding_days),
            }
            for agent_id, start_date in missing
        ]
        # Multi-row INSERTs: PostgreSQL's rollup trigger then adds up a chunk per statement (an
        # executemany would run it once per row); 2,000 rows x 4 values stays under SQLite's limit.
        for chunk in range(0, len(rows), ASSIGNMENT_CHUNK):
            session.execute(insert(Assignment).values(rows[chunk : chunk + ASSIGNMENT_CHUNK]))
        created += len(rows)
        _mirror_existing_acknowledgements(session, requirement)
    rollups.prune(session)  # cells that moves and leavers emptied
    return created


def _mirror_existing_acknowledgements(session: Session, requirement: Requirement) -> None:
    """An agent who already acknowledged the required version (or later) is covered from then; so
    is one who acknowledged an earlier version whose text their tier reads unchanged."""
    if gated_tiers(session, requirement.version_id):
        # An update quiz gates this version: coverage also waits for the pass, and the version is
        # asked of every tier in full (training judged the change material).
        agents = session.scalars(
            select(Assignment.agent_id)
            .join(Acknowledgement, Acknowledgement.agent_id == Assignment.agent_id)
            .where(
                Assignment.requirement_id == requirement.id,
                Assignment.acknowledged_at.is_(None),
                Acknowledgement.sop_id == requirement.sop_id,
                at_least(Acknowledgement.major, Acknowledgement.minor, requirement.major, requirement.minor),
            )
            .distinct()
        ).all()
        for agent_id in agents:
            mark_covered_assignments(session, agent_id, requirement.sop_id)
        return
    floors = tier_floors(session, requirement.sop_id, requirement.version) or dict.fromkeys(
        ("T1", "T2"), (requirement.major, requirement.minor)
    )
    counts = or_(
        *(
            and_(Agent.tier == tier, at_least(Acknowledgement.major, Acknowledgement.minor, major, minor))
            for tier, (major, minor) in floors.items()
        )
    )
    first_ack = (
        select(Acknowledgement.agent_id, func.min(Acknowledgement.id).label("ack_id"))
        .join(Agent, Agent.id == Acknowledgement.agent_id)
        .where(Acknowledgement.sop_id == requirement.sop_id, counts)
        .group_by(Acknowledgement.agent_id)
        .subquery()
    )
    pairs = session.execute(
        select(Assignment.id, Assignment.assigned_at, Acknowledgement.id, Acknowledgement.acknowledged_at)
        .join(first_ack, first_ack.c.agent_id == Assignment.agent_id)
        .join(Acknowledgement, Acknowledgement.id == first_ack.c.ack_id)
        .where(Assignment.requirement_id == requirement.id, Assignment.acknowledged_at.is_(None))
    ).all()
    for assignment_id, assigned_at, ack_id, acknowledged_at in pairs:
        session.execute(
            update(Assignment)
            .where(Assignment.id == assignment_id)
            .values(
                acknowledged_at=acknowledged_at,
                acknowledgement_id=ack_id,
                seconds_to_ack=seconds_between_times(assigned_at, acknowledged_at),
            )
        )
