"""Quiz bank snapshots, attempts, answers, certifications, and update-quiz gates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quiz_bank_snapshots",
        sa.Column("bank_hash", sa.String(64), nullable=False),
        sa.Column("bank_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(2), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", TZ, nullable=False),
        sa.CheckConstraint("kind IN ('certification', 'update')", name=op.f("ck_quiz_bank_snapshots_kind")),
        sa.PrimaryKeyConstraint("bank_hash", name=op.f("pk_quiz_bank_snapshots")),
    )
    op.create_index(op.f("ix_quiz_bank_snapshots_bank_id"), "quiz_bank_snapshots", ["bank_id"])

    op.create_table(
        "quiz_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.String(64), nullable=False),
        sa.Column("bank_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sop_version", sa.String(16), nullable=True),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("drawn", sa.JSON(), nullable=False),
        sa.Column("pass_mark", sa.Integer(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("deadline", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.Column("submission", sa.JSON(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("max_score", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'submitted', 'expired')", name=op.f("ck_quiz_attempts_status")),
        sa.CheckConstraint("kind IN ('certification', 'update')", name=op.f("ck_quiz_attempts_kind")),
        sa.CheckConstraint(
            "(status = 'open') = (submitted_at IS NULL)", name=op.f("ck_quiz_attempts_open_has_no_submission")
        ),
        sa.CheckConstraint(
            "score IS NULL OR (score >= 0 AND score <= max_score)", name=op.f("ck_quiz_attempts_score_range")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_quiz_attempts_user_id_users")),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_quiz_attempts_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["bank_hash"],
            ["quiz_bank_snapshots.bank_hash"],
            name=op.f("fk_quiz_attempts_bank_hash_quiz_bank_snapshots"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_attempts")),
        sa.UniqueConstraint("public_id", name=op.f("uq_quiz_attempts_public_id")),
    )
    op.create_index(op.f("ix_quiz_attempts_user_id"), "quiz_attempts", ["user_id"])
    op.create_index(
        "ix_quiz_attempts_agent_id_bank_id_started_at", "quiz_attempts", ["agent_id", "bank_id", "started_at"]
    )
    op.create_index("ix_quiz_attempts_bank_id_status", "quiz_attempts", ["bank_id", "status"])
    op.create_index(
        "uq_quiz_attempts_one_open",
        "quiz_attempts",
        ["agent_id", "bank_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table(
        "quiz_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.String(64), nullable=False),
        sa.Column("question_key", sa.String(8), nullable=False),
        sa.Column("question_id", sa.String(64), nullable=False),
        sa.Column("question_type", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("points_earned", sa.Float(), nullable=False),
        sa.Column("points_max", sa.Integer(), nullable=False),
        sa.Column("fraction", sa.Float(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "points_earned >= 0 AND points_earned <= points_max", name=op.f("ck_quiz_answers_points_range")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["quiz_attempts.id"],
            ondelete="CASCADE",
            name=op.f("fk_quiz_answers_attempt_id_quiz_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_answers")),
        sa.UniqueConstraint("attempt_id", "question_key", name="uq_quiz_answers_attempt_id_question_key"),
    )
    op.create_index(op.f("ix_quiz_answers_attempt_id"), "quiz_answers", ["attempt_id"])
    op.create_index("ix_quiz_answers_bank_id_question_id", "quiz_answers", ["bank_id", "question_id"])

    op.create_table(
        "quiz_answer_choices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["quiz_answers.id"],
            ondelete="CASCADE",
            name=op.f("fk_quiz_answer_choices_answer_id_quiz_answers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_answer_choices")),
        sa.UniqueConstraint("answer_id", "choice", name="uq_quiz_answer_choices_answer_id_choice"),
    )

    op.create_table(
        "certifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.String(64), nullable=False),
        sa.Column("bank_hash", sa.String(64), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("certified_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_certifications_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["bank_hash"],
            ["quiz_bank_snapshots.bank_hash"],
            name=op.f("fk_certifications_bank_hash_quiz_bank_snapshots"),
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["quiz_attempts.id"], name=op.f("fk_certifications_attempt_id_quiz_attempts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certifications")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_certifications_attempt_id")),
    )
    op.create_index(op.f("ix_certifications_bank_id"), "certifications", ["bank_id"])
    op.create_index("ix_certifications_agent_id_bank_id", "certifications", ["agent_id", "bank_id"])

    op.create_table(
        "certification_sops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certification_id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("major_at_pass", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certification_id"],
            ["certifications.id"],
            ondelete="CASCADE",
            name=op.f("fk_certification_sops_certification_id_certifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_sops")),
        sa.UniqueConstraint("certification_id", "sop_id", name="uq_certification_sops_certification_id_sop_id"),
    )
    op.create_index(op.f("ix_certification_sops_sop_id"), "certification_sops", ["sop_id"])

    op.create_table(
        "update_gate_decisions",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("decided_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["published_versions.id"],
            ondelete="CASCADE",
            name=op.f("fk_update_gate_decisions_version_id_published_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_update_gate_decisions")),
    )
    op.create_index(op.f("ix_update_gate_decisions_sop_id"), "update_gate_decisions", ["sop_id"])

    op.create_table(
        "update_gates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.String(64), nullable=False),
        sa.Column("bank_hash", sa.String(64), nullable=False),
        sa.Column("tier", sa.String(2), nullable=False),
        sa.CheckConstraint("tier IN ('T1', 'T2')", name=op.f("ck_update_gates_tier")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["update_gate_decisions.version_id"],
            ondelete="CASCADE",
            name=op.f("fk_update_gates_version_id_update_gate_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["bank_hash"], ["quiz_bank_snapshots.bank_hash"], name=op.f("fk_update_gates_bank_hash_quiz_bank_snapshots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_update_gates")),
        sa.UniqueConstraint("version_id", "bank_id", name="uq_update_gates_version_id_bank_id"),
    )
    op.create_index(op.f("ix_update_gates_bank_id"), "update_gates", ["bank_id"])


def downgrade() -> None:
    op.drop_table("update_gates")
    op.drop_table("update_gate_decisions")
    op.drop_table("certification_sops")
    op.drop_table("certifications")
    op.drop_table("quiz_answer_choices")
    op.drop_table("quiz_answers")
    op.drop_index("uq_quiz_attempts_one_open", table_name="quiz_attempts")
    op.drop_table("quiz_attempts")
    op.drop_table("quiz_bank_snapshots")
