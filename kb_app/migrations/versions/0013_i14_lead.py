"""The read-only `lead` role (LOB lead and cross-functional stakeholders), the weekly digest
log (one row per recipient and week sent), and a partial index of uncovered assignments (the
open work readiness looks for).

Revision ID: i14_lead
Revises: i12_site_settings
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i14_lead"
down_revision = "i12_site_settings"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
OLD_ROLES = "role IN ('agent', 'partner_manager', 'trainer', 'admin')"
NEW_ROLES = "role IN ('agent', 'partner_manager', 'trainer', 'admin', 'lead')"


def _set_role_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
        op.create_check_constraint(op.f("ck_users_role"), "users", new)
        return
    # SQLite cannot alter a CHECK constraint, and rebuilding `users` (batch mode) drops the
    # table that api_tokens, quiz_attempts and others reference, which foreign keys refuse once
    # there is data. SQLite's documented procedure for changing a CHECK constraint instead:
    # edit the table's definition in place and bump the schema version, in this transaction.
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = replace(sql, :old, :new) WHERE type = 'table' AND name = 'users'"),
        {"old": old, "new": new},
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version or 0) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    definition = bind.scalar(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'"))
    if new not in definition:
        raise RuntimeError(f"users: the role check is not {old!r} as expected; nothing changed")


def upgrade() -> None:
    _set_role_check(OLD_ROLES, NEW_ROLES)
    op.create_table(
        "digest_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("sent_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_log")),
        sa.UniqueConstraint("recipient", "week_start", name="uq_digest_log_recipient_week_start"),
    )
    op.create_index(
        "ix_assignments_uncovered",
        "assignments",
        ["agent_id", "requirement_id"],
        sqlite_where=sa.text("acknowledged_at IS NULL"),
        postgresql_where=sa.text("acknowledged_at IS NULL"),
    )


def downgrade() -> None:
    leads = op.get_bind().scalar(sa.text("SELECT count(*) FROM users WHERE role = 'lead'"))
    if leads:
        raise RuntimeError(f"{leads} user(s) have the role lead; give them another role before downgrading")
    op.drop_index("ix_assignments_uncovered", table_name="assignments")
    op.drop_table("digest_log")
    _set_role_check(NEW_ROLES, OLD_ROLES)
