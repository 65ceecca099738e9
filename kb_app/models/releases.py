"""Releases: one row per publish that changed anything, naming the catalog it published.

`catalog_hash` is the digest of every published SOP's id, version and content hash
(`kb_app.catalog.catalog_hash`). The search index and site manifests carry the hash of the
catalog they were built from, so any node (or a rerun of `kb publish`) can tell whether what it
serves is the recorded release or older.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from kb_app.models.base import Base, utcnow


class Release(Base):
    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    catalog_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(254), default="")
    versions: Mapped[list[str]] = mapped_column(JSON, default=list)  # "SOP-ID v1.2" labels it recorded
