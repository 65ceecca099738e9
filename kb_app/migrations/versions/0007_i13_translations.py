"""Published translations; acknowledgements record the language and translation read.

Revision ID: i13_translations
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i13_translations"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "published_translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop_id", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("source_version", sa.String(16), nullable=False),
        sa.Column("source_major", sa.Integer(), nullable=False),
        sa.Column("source_minor", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("tier_hashes", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("translated_by", sa.String(200), nullable=False),
        sa.Column("reviewed_by", sa.String(200), nullable=False),
        sa.Column("published_at", TZ, nullable=False),
        sa.Column("published_by", sa.String(254), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_translations")),
        sa.UniqueConstraint(
            "sop_id", "language", "content_hash", name="uq_published_translations_sop_id_language_content_hash"
        ),
    )
    op.create_index("ix_published_translations_sop_id_language", "published_translations", ["sop_id", "language"])
    with op.batch_alter_table("acknowledgements") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default="en"))
        batch.add_column(sa.Column("translation_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_acknowledgements_translation_id_published_translations"),
            "published_translations",
            ["translation_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("acknowledgements") as batch:
        batch.drop_constraint(op.f("fk_acknowledgements_translation_id_published_translations"), type_="foreignkey")
        batch.drop_column("translation_id")
        batch.drop_column("language")
    op.drop_index("ix_published_translations_sop_id_language", table_name="published_translations")
    op.drop_table("published_translations")
