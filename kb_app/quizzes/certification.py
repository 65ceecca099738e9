"""Certifications: what passing a certification bank earns, and each agent's standing.

**Certification.** Passing a certification bank certifies the agent for the bank's
`valid_days`, or until one of the SOPs it covers gets a new major version published after the
pass. From then on the agent is shown as "recertification due", due that version's publish time
plus the acknowledgement period (`KB_ACK_DUE_DAYS`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_app.models import Agent, PublishedVersion
from kb_app.models.quizzes import (
    Certification,
    CertificationSop,
    QuizAttempt,
    QuizBankSnapshot,
)
from kb_app.versions import latest_versions
from kb_app.quizzes.schema import Bank

EXPIRING_DAYS = 30
STATES = ("valid", "expiring", "recertification_due", "expired", "none")


# --- certification -----------------------------------------------------------------------------


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
