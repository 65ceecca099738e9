"""Closing the loop: feedback flags on SOP sections, improvement actions with their linked
sections, gaps and history, and the reminders sent to action owners.

Revision ID: i14_loop
Revises: i14_lead
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i14_loop"
down_revision = "i14_lead"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "improvement_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("owner_email", sa.String(254), nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("action_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.Column("done_at", TZ, nullable=True),
        sa.CheckConstraint(
            _in("action_type", ("training", "sop", "tooling", "quality")),
            name=op.f("ck_improvement_actions_action_type"),
        ),
        sa.CheckConstraint(
            _in("status", ("open", "in_progress", "done", "dropped")), name=op.f("ck_improvement_actions_status")
        ),
        sa.CheckConstraint("title <> ''", name=op.f("ck_improvement_actions_title_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_improvement_actions")),
    )
    op.create_index("ix_improvement_actions_status_due_date", "improvement_actions", ["status", "due_date"])
    op.create_table(
        "feedback_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("anchor", sa.String(200), nullable=False),
        sa.Column("section_title", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("comment", sa.String(500), nullable=False),
        sa.Column("tier", sa.String(2), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("triaged_by", sa.String(254), nullable=False),
        sa.Column("triaged_at", TZ, nullable=True),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            _in("kind", ("unclear", "outdated", "wrong", "missing_step")), name=op.f("ck_feedback_flags_kind")
        ),
        sa.CheckConstraint(
            _in("status", ("open", "accepted", "answered", "dismissed")), name=op.f("ck_feedback_flags_status")
        ),
        sa.CheckConstraint("tier IN ('T1', 'T2')", name=op.f("ck_feedback_flags_tier")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_feedback_flags_user_id_users")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["published_versions.id"], name=op.f("fk_feedback_flags_version_id_published_versions")
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["improvement_actions.id"],
            name=op.f("fk_feedback_flags_action_id_improvement_actions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_flags")),
    )
    op.create_index("ix_feedback_flags_sop_id_anchor", "feedback_flags", ["sop_id", "anchor"])
    op.create_index("ix_feedback_flags_vendor_created_at", "feedback_flags", ["vendor", "created_at"])
    op.create_index("ix_feedback_flags_user_id_created_at", "feedback_flags", ["user_id", "created_at"])
    op.create_table(
        "action_sections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("anchor", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["improvement_actions.id"],
            name=op.f("fk_action_sections_action_id_improvement_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_sections")),
        sa.UniqueConstraint("action_id", "sop_id", "anchor", name="uq_action_sections_action_id_sop_id_anchor"),
    )
    op.create_index(op.f("ix_action_sections_action_id"), "action_sections", ["action_id"])
    op.create_index(op.f("ix_action_sections_sop_id"), "action_sections", ["sop_id"])
    op.create_table(
        "action_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("gap_key", sa.String(300), nullable=False),
        sa.Column("queries", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["improvement_actions.id"],
            name=op.f("fk_action_gaps_action_id_improvement_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_gaps")),
        sa.UniqueConstraint("action_id", "gap_key", name="uq_action_gaps_action_id_gap_key"),
    )
    op.create_index(op.f("ix_action_gaps_action_id"), "action_gaps", ["action_id"])
    op.create_index(op.f("ix_action_gaps_gap_key"), "action_gaps", ["gap_key"])
    op.create_table(
        "action_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(254), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["improvement_actions.id"],
            name=op.f("fk_action_events_action_id_improvement_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_events")),
    )
    op.create_index(op.f("ix_action_events_action_id"), "action_events", ["action_id"])
    op.create_table(
        "action_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["improvement_actions.id"],
            name=op.f("fk_action_reminders_action_id_improvement_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_reminders")),
    )
    op.create_index("ix_action_reminders_action_id_sent_at", "action_reminders", ["action_id", "sent_at"])


def downgrade() -> None:
    op.drop_table("action_reminders")
    op.drop_table("action_events")
    op.drop_table("action_gaps")
    op.drop_table("action_sections")
    op.drop_table("feedback_flags")
    op.drop_table("improvement_actions")
