"""Search analytics: settled queries (no user id) and the results opened from them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "search_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("searched_at", TZ, nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("query", sa.String(200), nullable=False),
        sa.Column("filters", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(2), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("tier IN ('T1', 'T2')", name=op.f("ck_search_queries_tier")),
        sa.CheckConstraint("result_count >= 0", name=op.f("ck_search_queries_result_count_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_queries")),
    )
    op.create_index("ix_search_queries_week_start_tier", "search_queries", ["week_start", "tier"])

    op.create_table(
        "search_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("clicked_at", TZ, nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_search_clicks_rank_positive")),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["search_queries.id"],
            ondelete="CASCADE",
            name=op.f("fk_search_clicks_search_id_search_queries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_clicks")),
    )
    op.create_index(op.f("ix_search_clicks_search_id"), "search_clicks", ["search_id"])


def downgrade() -> None:
    op.drop_table("search_clicks")
    op.drop_table("search_queries")
