"""The weekly digest: one row per recipient and week sent, so `kb digest send` never mails the
same week's digest to the same person twice."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kb_app.models.base import Base, utcnow


class DigestLog(Base):
    __tablename__ = "digest_log"
    __table_args__ = (UniqueConstraint("recipient", "week_start", name="uq_digest_log_recipient_week_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    # The Monday (UTC) of the week the digest covers.
    week_start: Mapped[date]
    # The vendor the digest was confined to (a partner manager's), or None for every vendor.
    vendor: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
