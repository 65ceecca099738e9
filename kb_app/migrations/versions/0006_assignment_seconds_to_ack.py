"""Assignments keep the seconds from assignment to acknowledgement, for cheap medians.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("seconds_to_ack", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        seconds = "CAST(ROUND((julianday(acknowledged_at) - julianday(assigned_at)) * 86400) AS INTEGER)"
    else:
        seconds = "CAST(EXTRACT(EPOCH FROM (acknowledged_at - assigned_at)) AS INTEGER)"
    op.execute(f"UPDATE assignments SET seconds_to_ack = {seconds} WHERE acknowledged_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("seconds_to_ack")
