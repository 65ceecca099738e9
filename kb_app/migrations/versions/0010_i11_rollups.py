"""Coverage rollups: counts per requirement, roster cell and due date, kept by triggers on
assignments and agents (`kb_app.models.rollups`), filled from the rows already there.

Revision ID: i11_rollups
Revises: i11_releases
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kb_app.models.rollups import COUNTS, drop_trigger_ddl, rebuild_sql, trigger_ddl

revision = "i11_rollups"
down_revision = "i11_releases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coverage_rollups",
        sa.Column("requirement_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("manager", sa.String(200), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("tier", sa.String(2), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.PrimaryKeyConstraint(
            "requirement_id",
            "vendor",
            "site",
            "team",
            "manager",
            "language",
            "tier",
            "due_at",
            name=op.f("pk_coverage_rollups"),
        ),
    )
    dialect = op.get_bind().dialect.name
    for statement in trigger_ddl(dialect):
        op.execute(statement)
    for statement in rebuild_sql():
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("coverage_rollups")
