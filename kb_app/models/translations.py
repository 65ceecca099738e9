"""Published translations: the text of an SOP in one language, as it was published.

A translation names the source version it translates; its own identity is its text (hash).
An acknowledgement made in that language points at the row and stores the hash of its text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kb_app.models.base import Base, utcnow


class PublishedTranslation(Base):
    __tablename__ = "published_translations"
    __table_args__ = (
        UniqueConstraint(
            "sop_id", "language", "content_hash", name="uq_published_translations_sop_id_language_content_hash"
        ),
        Index("ix_published_translations_sop_id_language", "sop_id", "language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    source_version: Mapped[str] = mapped_column(String(16))
    source_major: Mapped[int]
    source_minor: Mapped[int]
    title: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    # What each tier reads of the translation; an acknowledgement in this language carries one of these.
    tier_hashes: Mapped[dict[str, str]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    translated_by: Mapped[str] = mapped_column(String(200))
    reviewed_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(254), default="")

    @property
    def label(self) -> str:
        return f"{self.sop_id} ({self.language}) of v{self.source_version}"
