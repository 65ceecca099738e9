"""Reminder log: which reminder went to whom, when.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('due_soon', 'overdue', 'manager_digest')", name=op.f("ck_reminder_log_kind")),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            ondelete="CASCADE",
            name=op.f("fk_reminder_log_assignment_id_assignments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_log")),
    )
    op.create_index("ix_reminder_log_recipient_kind_sent_at", "reminder_log", ["recipient", "kind", "sent_at"])


def downgrade() -> None:
    op.drop_table("reminder_log")
