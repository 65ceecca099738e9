"""Closing the loop: agents' feedback on SOP sections, the actions that fix gaps, their history,
and the reminders sent to action owners.

A flag keeps the SOP version and section it was raised on, and the agent's tier, vendor and
site at the time; an action keeps its owner, due date, type, status, the sections and gaps it
links, and every status change (also written to the audit log).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb_app.models.base import Base, utcnow

FLAG_KINDS = ("unclear", "outdated", "wrong", "missing_step")
FLAG_STATUSES = ("open", "accepted", "answered", "dismissed")
ACTION_TYPES = ("training", "sop", "tooling", "quality")
ACTION_STATUSES = ("open", "in_progress", "done", "dropped")
COMMENT_CHARS = 500
ANSWER_CHARS = 1000


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class FeedbackFlag(Base):
    """An agent's flag on one section of one published SOP version."""

    __tablename__ = "feedback_flags"
    __table_args__ = (
        CheckConstraint(_in("kind", FLAG_KINDS), name="kind"),
        CheckConstraint(_in("status", FLAG_STATUSES), name="status"),
        CheckConstraint("tier IN ('T1', 'T2')", name="tier"),
        Index("ix_feedback_flags_sop_id_anchor", "sop_id", "anchor"),
        Index("ix_feedback_flags_vendor_created_at", "vendor", "created_at"),
        Index("ix_feedback_flags_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("published_versions.id"))
    sop_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(16))
    anchor: Mapped[str] = mapped_column(String(200))  # "" for the text before the first heading
    section_title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(String(COMMENT_CHARS))
    tier: Mapped[str] = mapped_column(String(2))
    vendor: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    answer: Mapped[str] = mapped_column(Text, default="")
    triaged_by: Mapped[str] = mapped_column(String(254), default="")
    triaged_at: Mapped[datetime | None]
    action_id: Mapped[int | None] = mapped_column(ForeignKey("improvement_actions.id", ondelete="SET NULL"))


class ImprovementAction(Base):
    """An owned fix for one or more gaps."""

    __tablename__ = "improvement_actions"
    __table_args__ = (
        CheckConstraint(_in("action_type", ACTION_TYPES), name="action_type"),
        CheckConstraint(_in("status", ACTION_STATUSES), name="status"),
        CheckConstraint("title <> ''", name="title_not_empty"),
        Index("ix_improvement_actions_status_due_date", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_email: Mapped[str] = mapped_column(String(254))
    team: Mapped[str] = mapped_column(String(100))
    due_date: Mapped[date]
    action_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    # The one vendor the action is about, or None for all: linked flags must be that vendor's.
    vendor: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))
    done_at: Mapped[datetime | None]

    sections: Mapped[list["ActionSection"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ActionSection.id"
    )
    gaps: Mapped[list["ActionGap"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ActionGap.id"
    )
    events: Mapped[list["ActionEvent"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ActionEvent.id"
    )


class ActionSection(Base):
    """An SOP section an action fixes (anchor "" for the whole SOP)."""

    __tablename__ = "action_sections"
    __table_args__ = (
        UniqueConstraint("action_id", "sop_id", "anchor", name="uq_action_sections_action_id_sop_id_anchor"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("improvement_actions.id", ondelete="CASCADE"), index=True)
    sop_id: Mapped[str] = mapped_column(String(64), index=True)
    anchor: Mapped[str] = mapped_column(String(200), default="")


class ActionGap(Base):
    """A gap an action answers, by its key (see kb_app.improvement.gaps), with the queries behind
    it when it came from search (for the outcome's zero-result rate)."""

    __tablename__ = "action_gaps"
    __table_args__ = (UniqueConstraint("action_id", "gap_key", name="uq_action_gaps_action_id_gap_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("improvement_actions.id", ondelete="CASCADE"), index=True)
    gap_key: Mapped[str] = mapped_column(String(300), index=True)
    queries: Mapped[str] = mapped_column(Text, default="")  # newline-separated normalised queries


class ActionEvent(Base):
    """One change of an action: created, a status change, or a note."""

    __tablename__ = "action_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("improvement_actions.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")


class ActionReminder(Base):
    """A reminder e-mailed to an action's owner, so one is not sent twice in a window."""

    __tablename__ = "action_reminders"
    __table_args__ = (Index("ix_action_reminders_action_id_sent_at", "action_id", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("improvement_actions.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(16))  # due_soon | overdue
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
