"""Action plans: an owned fix, opened from a gap (or by hand), with linked SOP sections, gaps and
feedback flags, a status with its history (each change also in the audit log), a CSV export and
SMTP reminders to owners.

Linking checks every id: an SOP section must be published (and the anchor one of its sections),
a flag must exist and, when the action is about one vendor, be that vendor's. One bad link
refuses the whole action: nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from kb_app import audit, mail
from kb_app.config import Settings
from kb_app.improvement.feedback import FeedbackError, clean_text, link_flag
from kb_app.models import Agent
from kb_app.models.improvement import (
    ACTION_STATUSES,
    ACTION_TYPES,
    ActionEvent,
    ActionGap,
    ActionReminder,
    ActionSection,
    FeedbackFlag,
    ImprovementAction,
)
from kb_app.versions import latest_versions

OPEN_STATUSES = ("open", "in_progress")
TRANSITIONS = {
    "open": ("in_progress", "done", "dropped"),
    "in_progress": ("open", "done", "dropped"),
    "done": ("in_progress",),
    "dropped": ("open",),
}
STATUS_LABELS = {"open": "Open", "in_progress": "In progress", "done": "Done", "dropped": "Dropped"}
DUE_SOON_DAYS = 2
EXPORT_COLUMNS = (
    "id",
    "title",
    "action_type",
    "status",
    "overdue",
    "owner_email",
    "team",
    "due_date",
    "vendor",
    "sections",
    "gaps",
    "created_at",
    "created_by",
    "done_at",
)
_EMAIL = re.compile(r"^[^@\s,;<>\"']+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_SECTION = re.compile(r"^(?P<sop>[A-Z0-9][A-Z0-9_-]{0,63})(?:#(?P<anchor>[A-Za-z0-9_.:-]{0,200}))?$")


class ActionError(ValueError):
    def __init__(self, message: str, *, field: str = "", status: int = 422, code: str = "invalid_action"):
        super().__init__(message)
        self.field = field
        self.status = status
        self.code = code


@dataclass(frozen=True)
class GapLink:
    key: str
    queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionInput:
    title: str
    owner_email: str
    team: str
    due_date: date | None
    action_type: str
    vendor: str | None = None
    notes: str = ""
    sections: tuple[str, ...] = ()  # "SOP-ID#anchor" or "SOP-ID"
    gaps: tuple[GapLink, ...] = ()
    flag_ids: tuple[int, ...] = ()


def parse_sections(text: str) -> tuple[str, ...]:
    """Sections typed one per line or comma-separated."""
    return tuple(part.strip() for part in re.split(r"[\n,]+", text or "") if part.strip())


def _text(value: str, field: str, limit: int, required: bool = True) -> str:
    try:
        return clean_text(value, field=field, limit=limit, required=required)
    except FeedbackError as exc:
        raise ActionError(str(exc).replace("say what is wrong (a few words)", "required"), field=field) from None


def _validate(session: Session, data: ActionInput) -> tuple[dict[str, Any], list[tuple[str, str]], list[FeedbackFlag]]:
    values: dict[str, Any] = {
        "title": _text(data.title, "title", 200),
        "owner_email": (data.owner_email or "").strip().lower(),
        "team": _text(data.team, "team", 100),
        "notes": _text(data.notes, "notes", 4000, required=False),
    }
    if not _EMAIL.match(values["owner_email"]) or len(values["owner_email"]) > 254:
        raise ActionError("owner_email: the owner's e-mail address", field="owner_email")
    if data.due_date is None:
        raise ActionError("due_date: a date (YYYY-MM-DD)", field="due_date")
    if data.action_type not in ACTION_TYPES:
        raise ActionError(f"action_type: one of {', '.join(ACTION_TYPES)}", field="action_type")
    vendor = (data.vendor or "").strip().lower() or None
    if vendor is not None and session.scalar(select(Agent.id).where(Agent.vendor == vendor).limit(1)) is None:
        raise ActionError(f"vendor: no agents of vendor {vendor[:64]!r} on the roster", field="vendor")
    values.update(due_date=data.due_date, action_type=data.action_type, vendor=vendor)
    versions = latest_versions(session)
    sections: list[tuple[str, str]] = []
    for n, raw in enumerate(data.sections, 1):
        match = _SECTION.match(raw)
        if not match:
            raise ActionError(f"sections: line {n} ({raw[:80]!r}) is not SOP-ID#anchor", field="sections")
        sop_id, anchor = match.group("sop"), match.group("anchor") or ""
        version = versions.get(sop_id)
        if version is None:
            raise ActionError(f"sections: line {n}: no published SOP {sop_id}", field="sections")
        if anchor and anchor not in {s.get("anchor") for s in version.sections}:
            raise ActionError(
                f"sections: line {n}: {sop_id} v{version.version} has no section #{anchor}", field="sections"
            )
        if (sop_id, anchor) not in sections:
            sections.append((sop_id, anchor))
    for gap in data.gaps:
        if not gap.key or len(gap.key) > 300:
            raise ActionError("gaps: a gap key of 1 to 300 characters", field="gaps")
    flags = []
    for flag_id in dict.fromkeys(data.flag_ids):
        flag = session.get(FeedbackFlag, flag_id)
        if flag is None:
            raise ActionError(f"flag_ids: no feedback flag {flag_id}", field="flag_ids", status=404, code="not_found")
        if vendor is not None and flag.vendor != vendor:
            raise ActionError(
                f"flag_ids: flag {flag_id} is another vendor's, and this action is about {vendor} only",
                field="flag_ids",
                code="other_vendor",
            )
        flags.append(flag)
    return values, sections, flags


def create_action(
    session: Session, data: ActionInput, *, actor: str, actor_user_id: int | None = None, now: datetime
) -> ImprovementAction:
    """Validate everything, then write the action, its links and its first history row. The
    caller commits; on ActionError nothing has been added to the session."""
    values, sections, flags = _validate(session, data)
    action = ImprovementAction(**values, status="open", created_at=now, created_by=actor)
    action.sections = [ActionSection(sop_id=s, anchor=a) for s, a in sections]
    seen: dict[str, GapLink] = {}
    for gap in data.gaps:
        seen.setdefault(gap.key, gap)
    action.gaps = [ActionGap(gap_key=g.key, queries="\n".join(g.queries)) for g in seen.values()]
    action.events = [ActionEvent(at=now, actor=actor, from_status=None, to_status="open", note="created")]
    session.add(action)
    session.flush()
    for flag in flags:
        link_flag(session, action, flag)
        flag.triaged_by, flag.triaged_at = actor, now
    audit.record(
        session,
        "action.create",
        actor=actor,
        actor_user_id=actor_user_id,
        target=str(action.id),
        details={
            "title": action.title,
            "owner": action.owner_email,
            "type": action.action_type,
            "sections": [f"{s}#{a}" for s, a in sections],
            "gaps": list(seen),
            "flags": [f.id for f in flags],
        },
    )
    return action


def set_status(
    session: Session,
    action: ImprovementAction,
    status: str,
    *,
    actor: str,
    actor_user_id: int | None = None,
    note: str = "",
    now: datetime,
) -> ImprovementAction:
    if status not in ACTION_STATUSES:
        raise ActionError(f"status: one of {', '.join(ACTION_STATUSES)}", field="status")
    if status not in TRANSITIONS[action.status]:
        allowed = ", ".join(TRANSITIONS[action.status])
        raise ActionError(
            f"status: a {action.status} action can become {allowed}", field="status", code="conflict", status=409
        )
    note = _text(note, "note", 1000, required=False)
    previous = action.status
    action.status = status
    action.done_at = now if status == "done" else None
    action.events.append(ActionEvent(at=now, actor=actor, from_status=previous, to_status=status, note=note))
    audit.record(
        session,
        "action.status",
        actor=actor,
        actor_user_id=actor_user_id,
        target=str(action.id),
        details={"from": previous, "to": status, "note": note},
    )
    return action


def get_action(session: Session, action_id: int) -> ImprovementAction:
    action = session.get(ImprovementAction, action_id) if 0 < action_id < 2**31 else None
    if action is None:
        raise ActionError(f"No action {action_id}.", status=404, code="not_found", field="action_id")
    return action


def is_overdue(action: ImprovementAction, today: date) -> bool:
    return action.status in OPEN_STATUSES and action.due_date < today


def list_actions(
    session: Session, *, status: str | None = None, vendor: str | None = None, limit: int = 500
) -> list[ImprovementAction]:
    """Actions, open ones first by due date. `vendor`: that vendor's and the all-vendor ones."""
    query = select(ImprovementAction)
    if status is not None:
        if status not in ACTION_STATUSES:
            raise ActionError(f"status: one of {', '.join(ACTION_STATUSES)}", field="status")
        query = query.where(ImprovementAction.status == status)
    if vendor is not None:
        query = query.where((ImprovementAction.vendor == vendor) | ImprovementAction.vendor.is_(None))
    open_first = case((ImprovementAction.status.in_(OPEN_STATUSES), 0), else_=1)
    return list(
        session.scalars(query.order_by(open_first, ImprovementAction.due_date, ImprovementAction.id).limit(limit))
    )


def export_rows(session: Session, *, today: date, vendor: str | None = None) -> list[dict]:
    rows = []
    for action in list_actions(session, vendor=vendor, limit=100000):
        rows.append(
            {
                "id": action.id,
                "title": action.title,
                "action_type": action.action_type,
                "status": action.status,
                "overdue": "yes" if is_overdue(action, today) else "",
                "owner_email": action.owner_email,
                "team": action.team,
                "due_date": action.due_date.isoformat(),
                "vendor": action.vendor or "",
                "sections": " ".join(f"{s.sop_id}#{s.anchor}" if s.anchor else s.sop_id for s in action.sections),
                "gaps": " ".join(g.gap_key for g in action.gaps),
                "created_at": action.created_at.isoformat(timespec="seconds"),
                "created_by": action.created_by,
                "done_at": action.done_at.isoformat(timespec="seconds") if action.done_at else "",
            }
        )
    return rows


# --- for the weekly digest ------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionDue:
    id: int
    title: str
    owner_email: str
    team: str
    due_date: date
    status: str
    action_type: str
    vendor: str | None
    overdue: bool

    def to_dict(self) -> dict:
        return {**self.__dict__, "due_date": self.due_date.isoformat()}


def actions_due(
    session: Session, until: datetime | date, vendor: str | None = None, *, today: date | None = None
) -> list[ActionDue]:
    """Open and in-progress actions due on or before `until` (overdue ones included)."""
    last = until.date() if isinstance(until, datetime) else until
    today = today or datetime.now(timezone.utc).date()
    query = (
        select(ImprovementAction)
        .where(ImprovementAction.status.in_(OPEN_STATUSES), ImprovementAction.due_date <= last)
        .order_by(ImprovementAction.due_date, ImprovementAction.id)
    )
    if vendor is not None:
        query = query.where((ImprovementAction.vendor == vendor) | ImprovementAction.vendor.is_(None))
    return [
        ActionDue(
            a.id, a.title, a.owner_email, a.team, a.due_date, a.status, a.action_type, a.vendor, a.due_date < today
        )
        for a in session.scalars(query)
    ]


# --- reminders ------------------------------------------------------------------------------------


@dataclass
class OwnerReminder:
    recipient: str
    action_id: int
    kind: str  # due_soon | overdue
    subject: str
    body: str

    def to_dict(self) -> dict:
        return {"recipient": self.recipient, "action_id": self.action_id, "kind": self.kind, "subject": self.subject}


def plan_owner_reminders(
    session: Session, *, now: datetime, window: timedelta = timedelta(hours=24), base_url: str = ""
) -> list[OwnerReminder]:
    """A reminder per open action due within DUE_SOON_DAYS or overdue, unless the same kind went
    to its owner within `window`."""
    today = now.date()
    due = list(
        session.scalars(
            select(ImprovementAction)
            .where(
                ImprovementAction.status.in_(OPEN_STATUSES),
                ImprovementAction.due_date <= today + timedelta(days=DUE_SOON_DAYS),
            )
            .order_by(ImprovementAction.due_date, ImprovementAction.id)
        )
    )
    sent = {
        (row.action_id, row.recipient, row.kind)
        for row in session.execute(
            select(ActionReminder.action_id, ActionReminder.recipient, ActionReminder.kind).where(
                ActionReminder.sent_at > now - window
            )
        )
    }
    out = []
    root = base_url.rstrip("/")
    for action in due:
        kind = "overdue" if action.due_date < today else "due_soon"
        if (action.id, action.owner_email, kind) in sent:
            continue
        when = (
            f"was due {action.due_date.isoformat()}" if kind == "overdue" else f"is due {action.due_date.isoformat()}"
        )
        out.append(
            OwnerReminder(
                recipient=action.owner_email,
                action_id=action.id,
                kind=kind,
                subject=f"Action {action.id} {when}: {action.title}",
                body=(
                    f"The action you own {when}.\n\n"
                    f"  {action.title}\n  team: {action.team}\n  status: {STATUS_LABELS[action.status]}\n\n"
                    f"{root}/actions/{action.id}\n"
                ),
            )
        )
    return out


def send_owner_reminders(session: Session, reminders: list[OwnerReminder], settings: Settings, *, now: datetime) -> int:
    """Send over SMTP, logging and committing each as it goes (never sent twice)."""
    if not reminders:
        return 0
    sent = 0
    with mail.smtp_connection(settings) as smtp:
        for reminder in reminders:
            smtp.send_message(mail.message(settings, reminder.recipient, reminder.subject, reminder.body))
            session.add(
                ActionReminder(
                    action_id=reminder.action_id, recipient=reminder.recipient, kind=reminder.kind, sent_at=now
                )
            )
            session.commit()
            sent += 1
    return sent
