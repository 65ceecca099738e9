"""Published SOP versions, acknowledgement requirements, assignments and acknowledgements.

Git holds the SOP text; these tables hold what was published when (with a snapshot of the text,
so diffs and audits survive renames and history rewrites) and who acknowledged which exact text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb_app.models.base import Base, utcnow
from kb_app.models.roster import Agent

CLOSE_REASONS = ("superseded", "retired", "expired")
CHANNELS = ("web", "api", "cli")


class PublishedVersion(Base):
    """One version of one SOP as it was published."""

    __tablename__ = "published_versions"
    __table_args__ = (
        UniqueConstraint("sop_id", "version", name="uq_published_versions_sop_id_version"),
        CheckConstraint("kind IN ('sop', 'escalation', 'bulletin')", name="kind"),
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        CheckConstraint("visibility IN ('all', 't2_only')", name="visibility"),
        Index("ix_published_versions_sop_id_published_at", "sop_id", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(16))
    major: Mapped[int]
    minor: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    visibility: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    # What each tier reads; an acknowledgement must carry the hash of its reader's tier.
    tier_hashes: Mapped[dict[str, str]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text, default="")
    ack_required: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime | None]
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(254), default="")

    @property
    def label(self) -> str:
        return f"{self.sop_id} v{self.version}"


class Requirement(Base):
    """A published version that an audience must acknowledge by a due date.

    Acknowledging the required version or any later one satisfies it (3.1 satisfies a 3.0
    requirement).
    It closes when a new major supersedes it or the SOP is retired; its coverage is kept.
    """

    __tablename__ = "requirements"
    __table_args__ = (
        CheckConstraint(
            "closed_reason IS NULL OR closed_reason IN ('superseded', 'retired', 'expired')", name="closed_reason"
        ),
        Index("ix_requirements_sop_id_major", "sop_id", "major"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("published_versions.id"), unique=True)
    sop_id: Mapped[str] = mapped_column(String(64))
    # Acknowledging this version or any later one satisfies the requirement.
    major: Mapped[int]
    minor: Mapped[int]
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    is_bulletin: Mapped[bool] = mapped_column(default=False)

    version: Mapped[PublishedVersion] = relationship(lazy="joined")
    targets: Mapped[list["RequirementTarget"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class RequirementTarget(Base):
    """One audience constraint of a requirement: (dimension, value), e.g. ('tier', 'T1')."""

    __tablename__ = "requirement_targets"
    __table_args__ = (
        CheckConstraint("dimension IN ('tier', 'vendor', 'site', 'language')", name="dimension"),
        UniqueConstraint(
            "requirement_id", "dimension", "value", name="uq_requirement_targets_requirement_id_dimension_value"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("requirements.id", ondelete="CASCADE"), index=True)
    dimension: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))


def seconds_between_times(start: datetime, end: datetime) -> int:
    return max(int((end - start).total_seconds()), 0)


class Assignment(Base):
    """An agent in a requirement's population, with their own due date.

    `acknowledged_at` mirrors the agent's first acknowledgement of the required version or a
    later one, so that coverage is one indexed scan; `acknowledgements` stays the record.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("requirement_id", "agent_id", name="uq_assignments_requirement_id_agent_id"),
        Index("ix_assignments_agent_id_acknowledged_at", "agent_id", "acknowledged_at"),
        # The open work: uncovered assignments only (a small share of all), for readiness.
        Index(
            "ix_assignments_uncovered",
            "agent_id",
            "requirement_id",
            sqlite_where=text("acknowledged_at IS NULL"),
            postgresql_where=text("acknowledged_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("requirements.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledgement_id: Mapped[int | None] = mapped_column(ForeignKey("acknowledgements.id"))
    # Whole seconds from assigned_at to acknowledged_at, kept with it: medians need no date maths.
    seconds_to_ack: Mapped[int | None]

    requirement: Mapped[Requirement] = relationship(lazy="joined")
    agent: Mapped[Agent] = relationship()


class Acknowledgement(Base):
    """Agent + exact SOP version + the hash of the text they read + when. One per agent and version."""

    __tablename__ = "acknowledgements"
    __table_args__ = (
        UniqueConstraint("agent_id", "version_id", name="uq_acknowledgements_agent_id_version_id"),
        CheckConstraint("channel IN ('web', 'api', 'cli')", name="channel"),
        Index("ix_acknowledgements_sop_id_agent_id", "sop_id", "agent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("published_versions.id"))
    sop_id: Mapped[str] = mapped_column(String(64))
    major: Mapped[int]
    minor: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(8), default="web")
    # The language of the text read (the source language unless a translation was read) and,
    # for a translation, which published translation: `content_hash` is the hash of that text.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    translation_id: Mapped[int | None] = mapped_column(ForeignKey("published_translations.id"))

    version: Mapped[PublishedVersion] = relationship(lazy="joined")


class ReminderLog(Base):
    """One reminder e-mailed, so that `kb remind` never sends the same one twice in a window."""

    __tablename__ = "reminder_log"
    __table_args__ = (
        CheckConstraint("kind IN ('due_soon', 'overdue', 'manager_digest')", name="kind"),
        Index("ix_reminder_log_recipient_kind_sent_at", "recipient", "kind", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(16))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
