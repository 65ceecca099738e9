"""An agent's standing, read in a constant number of queries: what each SOP page's banner says and
what the reading list holds, whatever the number of requirements, acknowledgements or gates.

`ReleaseView` is the part every agent shares (the newest version of each SOP, which page shows
which SOP, the bulletins), read in two queries per release. `AgentStanding` is one agent's part:
open uncovered assignments, acknowledgements, the update quizzes still standing between them and
coverage, and the reading tasks a failed quiz left; three queries, two more only when an update
quiz gates one of them. Both are plain data
that round-trip through JSON, so `kb_app.shared_state` can keep them between requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_app.acks.gates import gates_for_tier
from kb_app.models import Agent
from kb_app.models.acks import Acknowledgement, Assignment, PublishedVersion, Requirement
from kb_app.models.quizzes import QuizAttempt, RemediationSection, RemediationTask, UpdateGate


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class VersionFacts:
    """What pages and banners need of one published version (no body text)."""

    id: int
    sop_id: str
    version: str
    major: int
    minor: int
    kind: str
    status: str
    title: str
    path: str
    tiers: list[str]
    audience: dict[str, Any]
    expires_at: datetime | None
    tier_hashes: dict[str, str] = field(default_factory=dict)  # tier -> the hash of its text

    def readable_by(self, tier: str) -> bool:
        return tier in self.tiers

    def addressed_to(self, agent: Agent) -> bool:
        checks = (
            ("tiers", agent.tier),
            ("vendors", agent.vendor),
            ("sites", agent.site),
            ("languages", agent.language),
        )
        return all(not self.audience.get(key) or value in self.audience[key] for key, value in checks)

    def to_dict(self) -> dict:
        return {**asdict(self), "expires_at": _iso(self.expires_at)}

    @classmethod
    def from_dict(cls, data: dict) -> VersionFacts:
        return cls(**{**data, "expires_at": _dt(data["expires_at"])})


@dataclass
class ReleaseView:
    latest: dict[str, VersionFacts]
    pages: dict[str, str]  # SOP file path (any published version's) -> SOP id, newest wins

    @classmethod
    def load(cls, session: Session) -> ReleaseView:
        newest = (
            select(PublishedVersion.sop_id, func.max(PublishedVersion.id).label("id"))
            .group_by(PublishedVersion.sop_id)
            .subquery()
        )
        columns = (
            PublishedVersion.id,
            PublishedVersion.sop_id,
            PublishedVersion.version,
            PublishedVersion.major,
            PublishedVersion.minor,
            PublishedVersion.kind,
            PublishedVersion.status,
            PublishedVersion.title,
            PublishedVersion.path,
            PublishedVersion.tier_hashes,
            PublishedVersion.audience,
            PublishedVersion.expires_at,
        )
        latest = {}
        for row in session.execute(select(*columns).join(newest, PublishedVersion.id == newest.c.id)):
            latest[row.sop_id] = VersionFacts(
                row.id,
                row.sop_id,
                row.version,
                row.major,
                row.minor,
                row.kind,
                row.status,
                row.title,
                row.path,
                sorted(row.tier_hashes),
                dict(row.audience or {}),
                row.expires_at,
                dict(row.tier_hashes),
            )
        pages = {}
        for path, sop_id in session.execute(
            select(PublishedVersion.path, PublishedVersion.sop_id).order_by(PublishedVersion.id)
        ):
            pages[path] = sop_id
        return cls(latest, pages)

    def sop_for_page(self, page_path: str, tier: str) -> str | None:
        """The SOP a built-site URL (`/sop/procedures/ato-recovery/`) shows, if `tier` may read it."""
        if not page_path.startswith("/sop/"):
            return None
        relative = page_path[len("/sop/") :].strip("/")
        if not relative:
            return None
        sop_id = self.pages.get(f"{relative}.md") or self.pages.get(f"{relative}/index.md")
        current = self.latest.get(sop_id) if sop_id else None
        return sop_id if current is not None and current.readable_by(tier) else None

    def open_bulletins(self, agent: Agent | None, tier: str, *, now: datetime) -> list[VersionFacts]:
        result = []
        for facts in sorted(self.latest.values(), key=lambda f: f.id):
            if facts.kind != "bulletin" or facts.status != "active":
                continue
            if facts.expires_at is not None and facts.expires_at <= now:
                continue
            if not facts.readable_by(tier) or (agent is not None and not facts.addressed_to(agent)):
                continue
            result.append(facts)
        return result


@dataclass
class OpenAssignment:
    requirement_id: int
    sop_id: str
    required: str  # the version the requirement asks for
    major: int
    minor: int
    summary: str
    due_at: datetime
    is_bulletin: bool
    # set when an update quiz must still be passed for the acknowledgement to count
    quiz_bank_ids: list[str] | None = None
    acknowledged_at: datetime | None = None  # the acknowledgement waiting for that quiz


@dataclass
class AckFacts:
    sop_id: str
    version: str
    major: int
    minor: int
    acknowledged_at: datetime


@dataclass
class ReviewFacts:
    """An open reading task after a failed quiz: the sections (`SOP-ID#anchor`) to re-read."""

    task_id: int
    bank_id: str
    created_at: datetime
    read_at: datetime | None  # when the last section was marked read
    sources: list[str]
    sections_read: int

    @property
    def all_read(self) -> bool:
        return self.read_at is not None


@dataclass
class AgentStanding:
    agent_id: int
    tier: str
    open: list[OpenAssignment] = field(default_factory=list)  # soonest due first
    acks: list[AckFacts] = field(default_factory=list)  # by SOP, oldest version first
    reviews: list[ReviewFacts] = field(default_factory=list)  # open reading tasks, newest first

    def last_acknowledged(self, sop_id: str) -> AckFacts | None:
        found = [a for a in self.acks if a.sop_id == sop_id]
        return found[-1] if found else None

    def to_dict(self) -> dict:
        # By hand rather than dataclasses.asdict: this runs on every cache miss of a hot path.
        return {
            "agent_id": self.agent_id,
            "tier": self.tier,
            "open": [
                {
                    "requirement_id": a.requirement_id,
                    "sop_id": a.sop_id,
                    "required": a.required,
                    "major": a.major,
                    "minor": a.minor,
                    "summary": a.summary,
                    "due_at": _iso(a.due_at),
                    "is_bulletin": a.is_bulletin,
                    "quiz_bank_ids": a.quiz_bank_ids,
                    "acknowledged_at": _iso(a.acknowledged_at),
                }
                for a in self.open
            ],
            "acks": [
                {
                    "sop_id": a.sop_id,
                    "version": a.version,
                    "major": a.major,
                    "minor": a.minor,
                    "acknowledged_at": _iso(a.acknowledged_at),
                }
                for a in self.acks
            ],
            "reviews": [
                {
                    "task_id": r.task_id,
                    "bank_id": r.bank_id,
                    "created_at": _iso(r.created_at),
                    "read_at": _iso(r.read_at),
                    "sources": r.sources,
                    "sections_read": r.sections_read,
                }
                for r in self.reviews
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> AgentStanding:
        return cls(
            data["agent_id"],
            data["tier"],
            [
                OpenAssignment(**{**a, "due_at": _dt(a["due_at"]), "acknowledged_at": _dt(a["acknowledged_at"])})
                for a in data["open"]
            ],
            [AckFacts(**{**a, "acknowledged_at": _dt(a["acknowledged_at"])}) for a in data["acks"]],
            [
                ReviewFacts(**{**r, "created_at": _dt(r["created_at"]), "read_at": _dt(r["read_at"])})
                for r in data["reviews"]
            ],
        )


def agent_standing(session: Session, agent: Agent) -> AgentStanding:
    """Read the agent's standing: 3 queries, plus 2 when an update quiz gates an open requirement."""
    return agent_standings(session, [agent])[agent.id]


def agent_standings(session: Session, agents: Sequence[Agent]) -> dict[int, AgentStanding]:
    """Agent id -> standing, for many agents at once in the same 3 (+2) queries: the one code path
    behind a single agent's standing and the warm-up of every agent's after a publish."""
    by_id = {agent.id: agent for agent in agents}
    if not by_id:
        return {}
    ids = list(by_id)
    rows = session.execute(
        select(
            Assignment.agent_id,
            Requirement.id,
            Requirement.sop_id,
            Requirement.version_id,
            Requirement.major,
            Requirement.minor,
            Requirement.is_bulletin,
            PublishedVersion.version,
            PublishedVersion.summary,
            Assignment.due_at,
        )
        .select_from(Assignment)
        .join(Requirement, Requirement.id == Assignment.requirement_id)
        .join(PublishedVersion, PublishedVersion.id == Requirement.version_id)
        .where(Assignment.agent_id.in_(ids), Assignment.acknowledged_at.is_(None), Requirement.closed_at.is_(None))
        .order_by(Assignment.agent_id, Assignment.due_at, Requirement.sop_id)
    ).all()
    standings = {agent_id: AgentStanding(agent_id, agent.tier) for agent_id, agent in by_id.items()}
    for agent_id, sop_id, version, major, minor, acknowledged_at in session.execute(
        select(
            Acknowledgement.agent_id,
            Acknowledgement.sop_id,
            PublishedVersion.version,
            Acknowledgement.major,
            Acknowledgement.minor,
            Acknowledgement.acknowledged_at,
        )
        .join(PublishedVersion, PublishedVersion.id == Acknowledgement.version_id)
        .where(Acknowledgement.agent_id.in_(ids))
        .order_by(Acknowledgement.agent_id, Acknowledgement.sop_id, Acknowledgement.major, Acknowledgement.minor)
    ):
        standings[agent_id].acks.append(AckFacts(sop_id, version, major, minor, acknowledged_at))
    _add_reviews(session, standings)
    gates: dict[int, list[UpdateGate]] = {}
    if rows:
        for gate in session.scalars(select(UpdateGate).where(UpdateGate.version_id.in_({r.version_id for r in rows}))):
            gates.setdefault(gate.version_id, []).append(gate)
    applicable = {(r.agent_id, r.id): gates_for_tier(gates.get(r.version_id, []), by_id[r.agent_id].tier) for r in rows}
    bank_ids = {g.bank_id for found in applicable.values() for g in found}
    passed: set[tuple[int, str]] = set()
    if bank_ids:
        passed = {
            (agent_id, bank_id)
            for agent_id, bank_id in session.execute(
                select(QuizAttempt.agent_id, QuizAttempt.bank_id)
                .where(
                    QuizAttempt.agent_id.in_({r.agent_id for r in rows}),
                    QuizAttempt.bank_id.in_(bank_ids),
                    QuizAttempt.passed.is_(True),
                )
                .distinct()
            )
        }
    for row in rows:
        standing = standings[row.agent_id]
        item = OpenAssignment(
            requirement_id=row.id,
            sop_id=row.sop_id,
            required=row.version,
            major=row.major,
            minor=row.minor,
            summary=row.summary or "",
            due_at=row.due_at,
            is_bulletin=row.is_bulletin,
        )
        quiz = applicable[(row.agent_id, row.id)]
        if quiz and not any((row.agent_id, g.bank_id) in passed for g in quiz):
            item.quiz_bank_ids = sorted(g.bank_id for g in quiz)
            satisfying = [
                a.acknowledged_at
                for a in standing.acks
                if a.sop_id == row.sop_id and (a.major, a.minor) >= (row.major, row.minor)
            ]
            item.acknowledged_at = min(satisfying) if satisfying else None
        standing.open.append(item)
    return standings


def _add_reviews(session: Session, standings: dict[int, AgentStanding]) -> None:
    """The open reading tasks of these agents with their sections, in one query."""
    rows = session.execute(
        select(
            RemediationTask.agent_id,
            RemediationTask.id,
            RemediationTask.bank_id,
            RemediationTask.created_at,
            RemediationTask.read_at,
            RemediationSection.source,
            RemediationSection.read_at.label("section_read_at"),
        )
        .join(RemediationSection, RemediationSection.task_id == RemediationTask.id, isouter=True)
        .where(RemediationTask.agent_id.in_(list(standings)), RemediationTask.closed_at.is_(None))
        .order_by(
            RemediationTask.agent_id,
            RemediationTask.created_at.desc(),
            RemediationTask.id.desc(),
            RemediationSection.id,
        )
    )
    current: ReviewFacts | None = None
    for row in rows:
        if current is None or current.task_id != row.id:
            current = ReviewFacts(row.id, row.bank_id, row.created_at, row.read_at, [], 0)
            standings[row.agent_id].reviews.append(current)
        if row.source is not None:
            current.sources.append(row.source)
            current.sections_read += row.section_read_at is not None
