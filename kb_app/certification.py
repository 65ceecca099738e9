"""Certifications, and update quizzes that gate acknowledgements.

**Certification.** Passing a certification bank certifies the agent for the bank's
`valid_days`, or until one of the SOPs it covers gets a new major version published after the
pass. From then on the agent is shown as "recertification due", due that version's publish time
plus the acknowledgement period (`KB_ACK_DUE_DAYS`).

**Comprehension-checked acknowledgement.** An update bank (`kind: update, sops: [X],
version: "3.0"`) gates the acknowledgement of X v3.0: the agent may acknowledge at once, but the
requirement counts as covered (the assignment's `acknowledged_at`) only once the agent has also
passed the quiz, at the later of the two times. `mark_covered_assignments` applies that rule; it
is called after an acknowledgement and after a passed update quiz.

Which banks gate which published version is recorded in the database the first time it matters
(`record_gate_decisions`), so a later edit of the bank files does not change who counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb_app.models import Acknowledgement, Agent, Assignment, PublishedVersion, Requirement
from kb_app.models.publishing import seconds_between_times
from kb_app.models.quizzes import (
    Certification,
    CertificationSop,
    QuizAttempt,
    QuizBankSnapshot,
    UpdateGate,
    UpdateGateDecision,
)
from kb_app.publishing import latest_versions
from kb_app.quizzes.schema import Bank

EXPIRING_DAYS = 30
STATES = ("valid", "expiring", "recertification_due", "expired", "none")


# --- certification -----------------------------------------------------------------------------


def on_pass(session: Session, attempt: QuizAttempt, bank: Bank, *, now: datetime) -> None:
    """What a passed attempt earns: a certification, or coverage of a gated acknowledgement."""
    if bank.kind == "certification":
        record_certification(session, attempt, bank, now=now)
    else:
        for sop_id in bank.sops:
            mark_covered_assignments(session, attempt.agent_id, sop_id)


def record_certification(session: Session, attempt: QuizAttempt, bank: Bank, *, now: datetime) -> Certification:
    published = latest_versions(session)
    certification = Certification(
        agent_id=attempt.agent_id,
        bank_id=bank.id,
        bank_hash=attempt.bank_hash,
        attempt_id=attempt.id,
        certified_at=now,
        expires_at=now + timedelta(days=bank.valid_days),
        sops=[
            CertificationSop(sop_id=sop_id, major_at_pass=published[sop_id].major if sop_id in published else None)
            for sop_id in bank.sops
        ],
    )
    session.add(certification)
    session.flush()
    return certification


@dataclass
class CertificationStatus:
    bank_id: str
    title: str
    state: str  # valid | expiring | recertification_due | expired | none
    certified_at: datetime | None = None
    expires_at: datetime | None = None
    due_at: datetime | None = None  # recertification due date
    changed: list[str] = field(default_factory=list)  # "ATO-RECOVERY v4.0": what ended it
    overdue: bool = False  # recertification due date passed

    @property
    def certified(self) -> bool:
        return self.state in ("valid", "expiring")

    def to_dict(self) -> dict[str, Any]:
        return {
            "bank_id": self.bank_id,
            "title": self.title,
            "state": self.state,
            "certified": self.certified,
            "certified_at": _iso(self.certified_at),
            "expires_at": _iso(self.expires_at),
            "recertification_due_at": _iso(self.due_at),
            "recertification_overdue": self.overdue,
            "changed_sops": self.changed,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def status_of(
    session: Session, certification: Certification, *, now: datetime, due_days: int, title: str
) -> CertificationStatus:
    changes = session.execute(
        select(PublishedVersion.sop_id, PublishedVersion.version, PublishedVersion.published_at)
        .join(CertificationSop, CertificationSop.sop_id == PublishedVersion.sop_id)
        .where(
            CertificationSop.certification_id == certification.id,
            CertificationSop.major_at_pass.is_not(None),
            PublishedVersion.major > CertificationSop.major_at_pass,
            PublishedVersion.published_at > certification.certified_at,
            PublishedVersion.published_at <= now,
        )
        .order_by(PublishedVersion.published_at)
    ).all()
    status = CertificationStatus(
        bank_id=certification.bank_id,
        title=title,
        state="valid",
        certified_at=certification.certified_at,
        expires_at=certification.expires_at,
        changed=[f"{sop_id} v{version}" for sop_id, version, _ in changes],
    )
    if certification.expires_at <= now:
        status.state = "expired"
    elif changes:
        status.state = "recertification_due"
        status.due_at = changes[0].published_at + timedelta(days=due_days)
        status.overdue = status.due_at <= now
    elif certification.expires_at <= now + timedelta(days=EXPIRING_DAYS):
        status.state = "expiring"
    return status


def certifications_of(
    session: Session, agent: Agent, banks: Iterable[Bank], *, now: datetime, due_days: int
) -> list[CertificationStatus]:
    """The agent's standing on every certification bank they may take, plus any they hold for
    banks no longer in the quiz directory. Latest certification per bank wins."""
    latest = (
        select(Certification.bank_id, func.max(Certification.id).label("id"))
        .where(Certification.agent_id == agent.id)
        .group_by(Certification.bank_id)
        .subquery()
    )
    held = {c.bank_id: c for c in session.scalars(select(Certification).join(latest, latest.c.id == Certification.id))}
    titles = {b.id: b.title for b in banks if b.kind == "certification" and b.tier == agent.tier}
    for bank_id in held.keys() - titles.keys():
        snapshot = session.get(QuizBankSnapshot, held[bank_id].bank_hash)
        titles[bank_id] = snapshot.title if snapshot else bank_id
    statuses = []
    for bank_id, title in sorted(titles.items(), key=lambda item: item[1]):
        if bank_id in held:
            statuses.append(status_of(session, held[bank_id], now=now, due_days=due_days, title=title))
        else:
            statuses.append(CertificationStatus(bank_id=bank_id, title=title, state="none"))
    return statuses


# --- update quizzes gating acknowledgements ---------------------------------------------------------


def undecided_versions_exist(session: Session) -> bool:
    decided = select(UpdateGateDecision.version_id).where(UpdateGateDecision.version_id == PublishedVersion.id)
    return bool(session.scalar(select(exists().where(~exists(decided)).select_from(PublishedVersion))))


def record_gate_decisions(session: Session, loaded, *, now: datetime, final: bool) -> int:
    """Record, for each published version not yet decided, which update banks gate it.

    `loaded` is a `kb_app.quizzes.library.LoadedBanks`. A version with a matching update bank is
    recorded at once. One without is recorded as ungated only when `final` (an acknowledgement
    is about to be counted) and every bank file loaded: a broken bank file must not switch a
    quiz off for good. Returns the number of decisions recorded.
    """
    from kb_app.attempts import snapshot_for

    decided = select(UpdateGateDecision.version_id)
    pending = session.execute(
        select(PublishedVersion.id, PublishedVersion.sop_id, PublishedVersion.version).where(
            PublishedVersion.id.not_in(decided)
        )
    ).all()
    recorded = 0
    for version_id, sop_id, version in pending:
        banks = loaded.update_banks_for(sop_id, version)
        if not banks and not (final and loaded.complete):
            continue
        try:
            with session.begin_nested():
                decision = UpdateGateDecision(version_id=version_id, sop_id=sop_id, version=version, decided_at=now)
                for bank in banks:
                    snapshot = snapshot_for(session, bank, now=now, content_hash=loaded.hashes.get(bank.id))
                    decision.gates.append(UpdateGate(bank_id=bank.id, bank_hash=snapshot.bank_hash, tier=bank.tier))
                session.add(decision)
        except IntegrityError:  # another worker decided it first; theirs stands
            continue
        recorded += 1
    return recorded


def gates_for_tier(gates: Iterable[UpdateGate], tier: str) -> list[UpdateGate]:
    from kb_app.attempts import may_take

    return [g for g in gates if may_take(_GateBank(g.tier), tier)]


@dataclass(frozen=True)
class _GateBank:
    tier: str
    kind: str = "update"


def _gates_by_version(session: Session, version_ids: Iterable[int]) -> dict[int, list[UpdateGate]]:
    ids = list(set(version_ids))
    if not ids:
        return {}
    result: dict[int, list[UpdateGate]] = {}
    for gate in session.scalars(select(UpdateGate).where(UpdateGate.version_id.in_(ids))):
        result.setdefault(gate.version_id, []).append(gate)
    return result


def gated_tiers(session: Session, version_id: int) -> set[str]:
    tiers = set()
    for gate in session.scalars(select(UpdateGate).where(UpdateGate.version_id == version_id)):
        tiers |= {tier for tier in ("T1", "T2") if gates_for_tier([gate], tier)}
    return tiers


def first_passes(session: Session, agent_id: int, bank_ids: Iterable[str]) -> dict[str, datetime]:
    ids = list(set(bank_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(QuizAttempt.bank_id, func.min(QuizAttempt.submitted_at))
        .where(QuizAttempt.agent_id == agent_id, QuizAttempt.bank_id.in_(ids), QuizAttempt.passed.is_(True))
        .group_by(QuizAttempt.bank_id)
    ).all()
    return dict(rows)


@dataclass
class PendingQuiz:
    """An acknowledgement that does not count yet: the agent must pass one of `bank_ids`."""

    sop_id: str
    version: str
    bank_ids: list[str]
    acknowledged_at: datetime | None
    due_at: datetime


def _uncovered(session: Session, agent_id: int, sop_id: str | None = None):
    query = (
        select(Assignment, Requirement)
        .join(Requirement, Requirement.id == Assignment.requirement_id)
        .where(Assignment.agent_id == agent_id, Assignment.acknowledged_at.is_(None))
    )
    if sop_id is not None:
        query = query.where(Requirement.sop_id == sop_id)
    return session.execute(query).all()


def _first_ack(session: Session, agent_id: int, requirement: Requirement) -> Acknowledgement | None:
    return session.scalars(
        select(Acknowledgement)
        .where(
            Acknowledgement.agent_id == agent_id,
            Acknowledgement.sop_id == requirement.sop_id,
            or_(
                Acknowledgement.major > requirement.major,
                and_(Acknowledgement.major == requirement.major, Acknowledgement.minor >= requirement.minor),
            ),
        )
        .order_by(Acknowledgement.acknowledged_at, Acknowledgement.id)
        .limit(1)
    ).first()


def mark_covered_assignments(session: Session, agent_id: int, sop_id: str) -> int:
    """Cover the agent's uncovered assignments of `sop_id` that are now satisfied.

    Satisfied: an acknowledgement of the required version (or later) exists and, when an update
    quiz the agent's tier takes gates the required version, the agent has passed it. The
    assignment's `acknowledged_at` is the later of the acknowledgement and the pass.
    Returns the number of assignments covered.
    """
    rows = _uncovered(session, agent_id, sop_id)
    if not rows:
        return 0
    tier = session.scalar(select(Agent.tier).where(Agent.id == agent_id))
    gates = _gates_by_version(session, (r.version_id for _, r in rows))
    passes = first_passes(session, agent_id, (g.bank_id for gs in gates.values() for g in gs))
    covered = 0
    for assignment, requirement in rows:
        ack = _first_ack(session, agent_id, requirement)
        if ack is None:
            continue
        at = ack.acknowledged_at
        applicable = gates_for_tier(gates.get(requirement.version_id, []), tier)
        if applicable:
            passed = [passes[g.bank_id] for g in applicable if g.bank_id in passes]
            if not passed:
                continue
            at = max(at, min(passed))
        session.execute(
            update(Assignment)
            .where(Assignment.id == assignment.id, Assignment.acknowledged_at.is_(None))
            .values(
                acknowledged_at=at,
                acknowledgement_id=ack.id,
                seconds_to_ack=seconds_between_times(assignment.assigned_at, at),
            )
        )
        covered += 1
    return covered


def pending_quizzes(session: Session, agent: Agent, sop_id: str | None = None) -> dict[str, PendingQuiz]:
    """SOP id -> the update quiz standing between the agent's acknowledgement (made or still to
    make) and coverage, for open uncovered assignments with a gate for the agent's tier."""
    rows = [(a, r) for a, r in _uncovered(session, agent.id, sop_id) if r.closed_at is None]
    gates = _gates_by_version(session, (r.version_id for _, r in rows))
    if not gates:
        return {}
    passes = first_passes(session, agent.id, (g.bank_id for gs in gates.values() for g in gs))
    result: dict[str, PendingQuiz] = {}
    for assignment, requirement in rows:
        applicable = gates_for_tier(gates.get(requirement.version_id, []), agent.tier)
        if not applicable or any(g.bank_id in passes for g in applicable):
            continue
        ack = _first_ack(session, agent.id, requirement)
        result[requirement.sop_id] = PendingQuiz(
            sop_id=requirement.sop_id,
            version=requirement.version.version,
            bank_ids=sorted(g.bank_id for g in applicable),
            acknowledged_at=ack.acknowledged_at if ack else None,
            due_at=assignment.due_at,
        )
    return result


def gate_decisions(session: Session) -> list[UpdateGateDecision]:
    return list(
        session.scalars(select(UpdateGateDecision).order_by(UpdateGateDecision.sop_id, UpdateGateDecision.version_id))
    )
