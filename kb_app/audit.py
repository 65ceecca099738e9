"""The audit log: record security-relevant events, list them with filters, export them as CSV.

There is deliberately no function that changes or removes an event.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_app.exports import spreadsheet_safe
from kb_app.models import AuditEvent

# The actions the application records. Later features add their own names.
ACTIONS = {
    "login.success": "signed in",
    "login.failure": "failed sign-in (attempted identifier as actor)",
    "logout": "signed out",
    "password.change": "changed own password",
    "user.create": "user created",
    "user.set_password": "password set by an operator",
    "user.deactivate": "user deactivated",
    "token.create": "API token created",
    "token.revoke": "API token revoked",
    "token.use": "API token used",
    "roster.import": "roster imported",
    "roster.export": "roster exported",
    "audit.export": "audit log exported",
    "demo.seed": "demo data loaded",
    "overdue.export": "overdue agents exported (CSV or XLSX)",
    "reminders.send": "overdue agents reminded from the overdue page",
    "digest.send": "weekly digest e-mailed",
}
CSV_COLUMNS = ("id", "occurred_at", "action", "actor", "actor_user_id", "target", "ip", "details")
_MAX_TEXT = 254


def record(
    session: Session,
    action: str,
    *,
    actor: str = "",
    actor_user_id: int | None = None,
    target: str = "",
    ip: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the session; it lands with the caller's commit."""
    event = AuditEvent(
        action=action,
        actor=(actor or "")[:_MAX_TEXT],
        actor_user_id=actor_user_id,
        target=(target or "")[:_MAX_TEXT],
        ip=(ip or "")[:64],
        details=details or {},
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None  # exact name, or a prefix ending in "." such as "login."
    actor: str | None = None  # substring, case-insensitive
    target: str | None = None  # substring, case-insensitive
    since: datetime | None = None
    until: datetime | None = None  # exclusive


def _conditions(where: AuditFilter) -> list:
    conditions = []
    if where.action:
        if where.action.endswith("."):
            conditions.append(AuditEvent.action.startswith(where.action, autoescape=True))
        else:
            conditions.append(AuditEvent.action == where.action)
    for name in ("actor", "target"):
        value = getattr(where, name)
        if value:
            conditions.append(func.lower(getattr(AuditEvent, name)).contains(value.lower(), autoescape=True))
    if where.since:
        conditions.append(AuditEvent.occurred_at >= where.since)
    if where.until:
        conditions.append(AuditEvent.occurred_at < where.until)
    return conditions


def list_events(
    session: Session, where: AuditFilter = AuditFilter(), *, limit: int = 100, offset: int = 0
) -> tuple[list[AuditEvent], int]:
    """Newest first: a page of events and how many match in all."""
    conditions = _conditions(where)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    events = session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(events), int(total)


def iter_events(session: Session, where: AuditFilter = AuditFilter()) -> Iterator[AuditEvent]:
    """Oldest first, streamed in chunks."""
    statement = (
        select(AuditEvent)
        .where(*_conditions(where))
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
        .execution_options(yield_per=1000)
    )
    yield from session.scalars(statement)


def recorded_actions(session: Session) -> list[str]:
    """Action names present in the log plus the known ones, for filter menus."""
    present = set(session.scalars(select(AuditEvent.action).distinct()))
    return sorted(present | set(ACTIONS))


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (identifiers are user input)."""
    return spreadsheet_safe("" if value is None else str(value))


def event_row(event: AuditEvent) -> list[str]:
    return [
        _cell(event.id),
        event.occurred_at.isoformat(),
        _cell(event.action),
        _cell(event.actor),
        _cell(event.actor_user_id),
        _cell(event.target),
        _cell(event.ip),
        _cell(json.dumps(event.details, sort_keys=True, ensure_ascii=False)),
    ]


def write_csv(events: Iterator[AuditEvent], out: io.TextIOBase) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for event in events:
        writer.writerow(event_row(event))
        count += 1
    return count
