"""Quiz attempts and answers, certifications, and the update quizzes that gate acknowledgements.

Bank files live in git (`quizzes/*.yml`) and change; these tables keep what was taken: a
snapshot of every bank version an attempt was drawn from (by content hash), the draw, the
answers question by question (for item analysis), the certifications a pass earned, and which
bank gates the acknowledgement of which published SOP version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb_app.models.base import Base, utcnow
from kb_app.models.roster import Agent

ATTEMPT_STATUSES = ("open", "submitted", "expired")
BANK_KINDS = ("certification", "update")


class QuizBankSnapshot(Base):
    """One version of one bank, as drawn from: attempts are graded and reviewed against it even
    after the file changes."""

    __tablename__ = "quiz_bank_snapshots"
    __table_args__ = (CheckConstraint("kind IN ('certification', 'update')", name="kind"),)

    bank_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    bank_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuizAttempt(Base):
    """One agent's attempt at one bank: the server's draw, the deadline, and the grade.

    At most one attempt per agent and bank is open at a time (a partial unique index). An
    attempt left open past its deadline is closed as `expired` with score 0.
    """

    __tablename__ = "quiz_attempts"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'submitted', 'expired')", name="status"),
        CheckConstraint("kind IN ('certification', 'update')", name="kind"),
        CheckConstraint("(status = 'open') = (submitted_at IS NULL)", name="open_has_no_submission"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= max_score)", name="score_range"),
        Index("ix_quiz_attempts_agent_id_bank_id_started_at", "agent_id", "bank_id", "started_at"),
        Index("ix_quiz_attempts_bank_id_status", "bank_id", "status"),
        Index(
            "uq_quiz_attempts_one_open",
            "agent_id",
            "bank_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What URLs and the API call the attempt: random, so ids cannot be guessed or walked.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    bank_id: Mapped[str] = mapped_column(String(64))
    bank_hash: Mapped[str] = mapped_column(ForeignKey("quiz_bank_snapshots.bank_hash"))
    kind: Mapped[str] = mapped_column(String(16))
    sop_version: Mapped[str | None] = mapped_column(String(16))  # update banks: the SOP version quizzed
    seed: Mapped[str] = mapped_column(String(64))
    drawn: Mapped[dict[str, Any]] = mapped_column(JSON)  # kb_app.quizzes.Attempt.to_dict()
    pass_mark: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="open")
    submitted_at: Mapped[datetime | None]
    submission: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[int]
    percent: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None]

    agent: Mapped[Agent] = relationship()


class QuizAnswer(Base):
    """One drawn question of a finished attempt, graded: the unit of item analysis."""

    __tablename__ = "quiz_answers"
    __table_args__ = (
        UniqueConstraint("attempt_id", "question_key", name="uq_quiz_answers_attempt_id_question_key"),
        Index("ix_quiz_answers_bank_id_question_id", "bank_id", "question_id"),
        CheckConstraint("points_earned >= 0 AND points_earned <= points_max", name="points_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[str] = mapped_column(String(64))
    question_key: Mapped[str] = mapped_column(String(8))  # q1, q2 ... in the attempt
    question_id: Mapped[str] = mapped_column(String(64))
    question_type: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200))  # SOP-ID#anchor the question tests
    answered: Mapped[bool]
    points_earned: Mapped[float] = mapped_column(Float)
    points_max: Mapped[int]
    fraction: Mapped[float] = mapped_column(Float)  # points_earned / points_max
    correct: Mapped[bool]


class QuizAnswerChoice(Base):
    """What the agent chose, in bank terms: an option id, `true`/`false`, an ordering as item
    indexes (`2-0-1`), or a short answer as compared (case-folded)."""

    __tablename__ = "quiz_answer_choices"
    __table_args__ = (UniqueConstraint("answer_id", "choice", name="uq_quiz_answer_choices_answer_id_choice"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("quiz_answers.id", ondelete="CASCADE"))
    choice: Mapped[str] = mapped_column(String(200))


class Certification(Base):
    """A pass of a certification bank: valid until `expires_at`, or until a covered SOP gets a
    major version published after `certified_at`."""

    __tablename__ = "certifications"
    __table_args__ = (Index("ix_certifications_agent_id_bank_id", "agent_id", "bank_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    bank_id: Mapped[str] = mapped_column(String(64), index=True)
    bank_hash: Mapped[str] = mapped_column(ForeignKey("quiz_bank_snapshots.bank_hash"))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id"), unique=True)
    certified_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    sops: Mapped[list["CertificationSop"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class CertificationSop(Base):
    """An SOP a certification covers, with its published major version when the agent passed
    (None: not yet published then; its first publication does not end the certification)."""

    __tablename__ = "certification_sops"
    __table_args__ = (
        UniqueConstraint("certification_id", "sop_id", name="uq_certification_sops_certification_id_sop_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id", ondelete="CASCADE"))
    sop_id: Mapped[str] = mapped_column(String(64), index=True)
    major_at_pass: Mapped[int | None]


class UpdateGateDecision(Base):
    """Whether (and by which banks) the acknowledgement of one published version is gated.

    Recorded once, when first needed, so that a later edit of the bank files does not change
    who counts as covered; `gates` empty means: no update quiz for this version.
    """

    __tablename__ = "update_gate_decisions"

    version_id: Mapped[int] = mapped_column(ForeignKey("published_versions.id", ondelete="CASCADE"), primary_key=True)
    sop_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    gates: Mapped[list["UpdateGate"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class UpdateGate(Base):
    """An update bank (id and the hash seen when recorded) that gates one version's acknowledgement
    for the tier it is written for."""

    __tablename__ = "update_gates"
    __table_args__ = (
        UniqueConstraint("version_id", "bank_id", name="uq_update_gates_version_id_bank_id"),
        CheckConstraint("tier IN ('T1', 'T2')", name="tier"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("update_gate_decisions.version_id", ondelete="CASCADE"))
    bank_id: Mapped[str] = mapped_column(String(64), index=True)
    bank_hash: Mapped[str] = mapped_column(ForeignKey("quiz_bank_snapshots.bank_hash"))
    tier: Mapped[str] = mapped_column(String(2))


class RemediationTask(Base):
    """After a failed attempt: the SOP sections behind the missed questions, to re-read.

    Open (`closed_at` None) until the agent's next submitted attempt at the same bank, which
    records the outcome: `retry_passed`, and whether every section had been read first
    (`read_before_retry`). `read_at` is when the last section was marked read.
    """

    __tablename__ = "remediation_tasks"
    __table_args__ = (
        Index("ix_remediation_tasks_agent_id_bank_id", "agent_id", "bank_id"),
        Index("ix_remediation_tasks_bank_id_closed_at", "bank_id", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    bank_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # the bank's kind: certification | update
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    retry_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="SET NULL"))
    retry_passed: Mapped[bool | None]
    read_before_retry: Mapped[bool | None]

    agent: Mapped[Agent] = relationship()
    sections: Mapped[list["RemediationSection"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="RemediationSection.id"
    )


class RemediationSection(Base):
    """One SOP section of a remediation task, with how many missed questions cite it."""

    __tablename__ = "remediation_sections"
    __table_args__ = (UniqueConstraint("task_id", "source", name="uq_remediation_sections_task_id_source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("remediation_tasks.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(200))  # SOP-ID#anchor
    sop_id: Mapped[str] = mapped_column(String(64))
    anchor: Mapped[str] = mapped_column(String(200))
    questions_missed: Mapped[int]
    read_at: Mapped[datetime | None]
