"""Roster site settings (name and IANA time zone of each site) and vendor names.

Revision ID: i12_site_settings
Revises: i11_rollups
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i12_site_settings"
down_revision = "i11_rollups"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "roster_sites",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("code <> ''", name=op.f("ck_roster_sites_code_not_empty")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_roster_sites")),
    )
    op.create_table(
        "roster_vendors",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("code <> ''", name=op.f("ck_roster_vendors_code_not_empty")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_roster_vendors")),
    )


def downgrade() -> None:
    op.drop_table("roster_vendors")
    op.drop_table("roster_sites")
