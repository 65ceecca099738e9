"""The roster: agents as the workforce system knows them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kb_app.models.base import Base, utcnow

TIERS = ("T1", "T2")
IN_HOUSE = "in-house"


class Agent(Base):
    """One roster entry. `vendor` is a BPO partner code, or `in-house` for our own staff."""

    __tablename__ = "agents"
    __table_args__ = (
        CheckConstraint("tier IN ('T1', 'T2')", name="tier"),
        CheckConstraint("employee_id <> ''", name="employee_id_not_empty"),
        Index("ix_agents_vendor_site_team", "vendor", "site", "team"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    tier: Mapped[str] = mapped_column(String(2))
    vendor: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64))
    team: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(8))
    manager: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[date]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Agent {self.employee_id} {self.tier} {self.vendor}/{self.site}>"


class RosterSite(Base):
    """Settings of one site (a roster `site` code): the name people know it by and its IANA
    time zone, in which its agents see times."""

    __tablename__ = "roster_sites"
    __table_args__ = (CheckConstraint("code <> ''", name="code_not_empty"),)

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RosterVendor(Base):
    """A vendor code of the roster and the name it is shown by."""

    __tablename__ = "roster_vendors"
    __table_args__ = (CheckConstraint("code <> ''", name="code_not_empty"),)

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
