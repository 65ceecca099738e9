"""Remediation after a failed quiz: the missed sections to re-read, and how the retry went.

Revision ID: i15_remediation
Revises: i13_translations
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15_remediation"
down_revision = "i13_translations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remediation_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_attempt_id", sa.Integer(), nullable=True),
        sa.Column("retry_passed", sa.Boolean(), nullable=True),
        sa.Column("read_before_retry", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["quiz_attempts.id"],
            name=op.f("fk_remediation_tasks_attempt_id_quiz_attempts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_remediation_tasks_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["retry_attempt_id"],
            ["quiz_attempts.id"],
            name=op.f("fk_remediation_tasks_retry_attempt_id_quiz_attempts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_tasks")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_remediation_tasks_attempt_id")),
    )
    op.create_index("ix_remediation_tasks_agent_id_bank_id", "remediation_tasks", ["agent_id", "bank_id"])
    op.create_index("ix_remediation_tasks_bank_id_closed_at", "remediation_tasks", ["bank_id", "closed_at"])
    op.create_table(
        "remediation_sections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("sop_id", sa.String(length=64), nullable=False),
        sa.Column("anchor", sa.String(length=200), nullable=False),
        sa.Column("questions_missed", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["remediation_tasks.id"],
            name=op.f("fk_remediation_sections_task_id_remediation_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_sections")),
        sa.UniqueConstraint("task_id", "source", name="uq_remediation_sections_task_id_source"),
    )


def downgrade() -> None:
    op.drop_table("remediation_sections")
    op.drop_index("ix_remediation_tasks_bank_id_closed_at", table_name="remediation_tasks")
    op.drop_index("ix_remediation_tasks_agent_id_bank_id", table_name="remediation_tasks")
    op.drop_table("remediation_tasks")
