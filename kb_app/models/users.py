"""People who sign in, their roles, and API tokens for automation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb_app.models.base import Base, utcnow
from kb_app.models.roster import Agent

ROLES = ("agent", "partner_manager", "trainer", "admin", "lead")


class User(Base):
    """A login. An `agent` is tied to a roster entry; a `partner_manager` to one vendor; a `lead`
    (the LOB lead, cross-functional stakeholders) reads every vendor's reports and changes nothing."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('agent', 'partner_manager', 'trainer', 'admin', 'lead')", name="role"),
        CheckConstraint("role <> 'agent' OR agent_id IS NOT NULL", name="agent_has_roster_entry"),
        CheckConstraint("(role = 'partner_manager') = (vendor IS NOT NULL)", name="vendor_only_for_partner_manager"),
        CheckConstraint("email <> ''", name="email_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    vendor: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Part of the login session id: rotating it signs out every other session of this user.
    session_nonce: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    agent: Mapped[Agent | None] = relationship(lazy="joined")

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.agent is not None:
            return self.agent.name
        return self.email

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class ApiToken(Base):
    """A bearer token. Only the SHA-256 of the secret is kept; the secret is shown once."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("name <> ''", name="name_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    # The address of the last recorded use: a use from another one is audited.
    last_used_ip: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def active(self) -> bool:
        return self.revoked_at is None
