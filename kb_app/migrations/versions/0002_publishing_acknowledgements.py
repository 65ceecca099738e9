"""Published versions, requirements and their audiences, assignments, acknowledgements.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "published_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("tier_hashes", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("ack_required", sa.Boolean(), nullable=False),
        sa.Column("expires_at", TZ, nullable=True),
        sa.Column("published_at", TZ, nullable=False),
        sa.Column("published_by", sa.String(254), nullable=False),
        sa.CheckConstraint("kind IN ('sop', 'escalation', 'bulletin')", name=op.f("ck_published_versions_kind")),
        sa.CheckConstraint("status IN ('active', 'retired')", name=op.f("ck_published_versions_status")),
        sa.CheckConstraint("visibility IN ('all', 't2_only')", name=op.f("ck_published_versions_visibility")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_versions")),
        sa.UniqueConstraint("sop_id", "version", name="uq_published_versions_sop_id_version"),
    )
    op.create_index("ix_published_versions_sop_id_published_at", "published_versions", ["sop_id", "published_at"])

    op.create_table(
        "requirements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("closed_reason", sa.String(16), nullable=True),
        sa.Column("is_bulletin", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "closed_reason IS NULL OR closed_reason IN ('superseded', 'retired', 'expired')",
            name=op.f("ck_requirements_closed_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["published_versions.id"], name=op.f("fk_requirements_version_id_published_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requirements")),
        sa.UniqueConstraint("version_id", name=op.f("uq_requirements_version_id")),
    )
    op.create_index("ix_requirements_sop_id_major", "requirements", ["sop_id", "major"])

    op.create_table(
        "requirement_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requirement_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.CheckConstraint(
            "dimension IN ('tier', 'vendor', 'site', 'language')", name=op.f("ck_requirement_targets_dimension")
        ),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["requirements.id"],
            ondelete="CASCADE",
            name=op.f("fk_requirement_targets_requirement_id_requirements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requirement_targets")),
        sa.UniqueConstraint(
            "requirement_id", "dimension", "value", name="uq_requirement_targets_requirement_id_dimension_value"
        ),
    )
    op.create_index(op.f("ix_requirement_targets_requirement_id"), "requirement_targets", ["requirement_id"])

    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("acknowledged_at", TZ, nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.CheckConstraint("channel IN ('web', 'api', 'cli')", name=op.f("ck_acknowledgements_channel")),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_acknowledgements_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["published_versions.id"], name=op.f("fk_acknowledgements_version_id_published_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acknowledgements")),
        sa.UniqueConstraint("agent_id", "version_id", name="uq_acknowledgements_agent_id_version_id"),
    )
    op.create_index("ix_acknowledgements_sop_id_agent_id", "acknowledgements", ["sop_id", "agent_id"])

    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requirement_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("acknowledged_at", TZ, nullable=True),
        sa.Column("acknowledgement_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requirement_id"],
            ["requirements.id"],
            ondelete="CASCADE",
            name=op.f("fk_assignments_requirement_id_requirements"),
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_assignments_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["acknowledgement_id"],
            ["acknowledgements.id"],
            name=op.f("fk_assignments_acknowledgement_id_acknowledgements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("requirement_id", "agent_id", name="uq_assignments_requirement_id_agent_id"),
    )
    op.create_index("ix_assignments_agent_id_acknowledged_at", "assignments", ["agent_id", "acknowledged_at"])


def downgrade() -> None:
    op.drop_table("assignments")
    op.drop_table("acknowledgements")
    op.drop_table("requirement_targets")
    op.drop_table("requirements")
    op.drop_table("published_versions")
