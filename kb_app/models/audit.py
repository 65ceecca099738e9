"""The audit log: an append-only record of security-relevant events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from kb_app.models.base import Base, utcnow


class AuditEvent(Base):
    """One event. Rows are only ever inserted; the database refuses updates and deletes."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_occurred_at", "action", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64))
    # Who did it, as they identified themselves (an email, an attempted login, `cli:<user>`).
    actor: Mapped[str] = mapped_column(String(254), default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    target: Mapped[str] = mapped_column(String(254), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_change(_mapper, _connection, target: AuditEvent) -> None:
    raise PermissionError(f"audit event {target.id} is append-only")
