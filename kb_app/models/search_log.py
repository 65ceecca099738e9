"""Search analytics: what readers searched for, how many sections matched, what they opened.

No user id is kept: the training team needs content gaps, not who searched for what. A row
carries the reader's tier, role and vendor, and the query text normalised and with e-mail
addresses and long numbers (customer data an agent may paste) replaced.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kb_app.models.base import Base

QUERY_CHARS = 200
FILTER_CHARS = 200


class SearchQuery(Base):
    """One settled search: a typing burst's queries refine one row (see kb_app.search_log)."""

    __tablename__ = "search_queries"
    __table_args__ = (
        CheckConstraint("tier IN ('T1', 'T2')", name="tier"),
        CheckConstraint("result_count >= 0", name="result_count_not_negative"),
        Index("ix_search_queries_week_start_tier", "week_start", "tier"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    searched_at: Mapped[datetime]
    week_start: Mapped[date]  # Monday (UTC) of searched_at's week: weekly reports group on it
    query: Mapped[str] = mapped_column(String(QUERY_CHARS))
    filters: Mapped[str] = mapped_column(String(FILTER_CHARS), default="")  # facet filters, "kind:escalation tag:sim"
    tier: Mapped[str] = mapped_column(String(2))
    role: Mapped[str] = mapped_column(String(32))
    vendor: Mapped[str | None] = mapped_column(String(64))
    result_count: Mapped[int]

    def __repr__(self) -> str:
        return f"<SearchQuery {self.id} {self.tier} {self.query!r} {self.result_count}>"


class SearchClick(Base):
    """A result opened from a search (through /search/open)."""

    __tablename__ = "search_clicks"
    __table_args__ = (CheckConstraint("rank >= 1", name="rank_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("search_queries.id", ondelete="CASCADE"), index=True)
    clicked_at: Mapped[datetime]
    sop_id: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(500))
    rank: Mapped[int]
