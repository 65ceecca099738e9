"""`kb remind`: e-mail agents about acknowledgements due within a day or overdue, and each
partner manager a digest of their vendor's overdue agents. Never the same reminder twice in a
window (default 24 hours)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_app import mail
from kb_app.acks.coverage import CoverageFilter, overdue_assignments, overdue_by_agent
from kb_app.config import Settings
from kb_app.models import Agent, User
from kb_app.models.acks import Assignment, PublishedVersion, ReminderLog, Requirement


@dataclass
class Reminder:
    recipient: str
    kind: str  # due_soon/overdue for agents (one mail, several items), manager_digest
    subject: str
    body: str
    assignment_ids: list[int] = field(default_factory=list)
    log_kinds: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "recipient": self.recipient,
            "kind": self.kind,
            "subject": self.subject,
            "items": len(self.assignment_ids) or None,
        }


def _recently_sent(session: Session, since: datetime) -> set[tuple[str, str, int | None]]:
    rows = session.execute(
        select(ReminderLog.recipient, ReminderLog.kind, ReminderLog.assignment_id).where(ReminderLog.sent_at > since)
    )
    return {tuple(row) for row in rows}


def plan_reminders(
    session: Session, *, now: datetime, window: timedelta = timedelta(hours=24), base_url: str = ""
) -> list[Reminder]:
    sent = _recently_sent(session, now - window)
    rows = session.execute(
        select(
            Assignment.id,
            Assignment.due_at,
            Agent,
            Requirement.sop_id,
            PublishedVersion.version,
            PublishedVersion.title,
        )
        .join(Agent, Agent.id == Assignment.agent_id)
        .join(Requirement, Requirement.id == Assignment.requirement_id)
        .join(PublishedVersion, PublishedVersion.id == Requirement.version_id)
        .where(
            Agent.active.is_(True),
            Assignment.acknowledged_at.is_(None),
            Requirement.closed_at.is_(None),
            Assignment.due_at <= now + timedelta(days=1),
        )
        .order_by(Agent.email, Assignment.due_at)
    ).all()
    by_agent: dict[str, list] = defaultdict(list)
    overdue_by_vendor: dict[str, list] = defaultdict(list)
    for assignment_id, due_at, agent, sop_id, version, title in rows:
        kind = "overdue" if due_at <= now else "due_soon"
        if kind == "overdue":
            overdue_by_vendor[agent.vendor].append((agent, sop_id, version, due_at))
        if (agent.email, kind, assignment_id) not in sent:
            by_agent[agent.email].append((assignment_id, kind, due_at, sop_id, version, title, agent.name))
    reminders = [_agent_reminder(email, items, base_url) for email, items in by_agent.items()]
    managers = session.scalars(select(User).where(User.role == "partner_manager", User.active.is_(True))).all()
    for manager in managers:
        overdue = overdue_by_vendor.get(manager.vendor or "")
        if not overdue or (manager.email, "manager_digest", None) in sent:
            continue
        lines = [f"Overdue acknowledgements for {manager.vendor} ({len(overdue)}):", ""]
        for agent, sop_id, version, due_at in overdue:
            lines.append(
                f"- {agent.name} ({agent.employee_id}, {agent.site}/{agent.team}): {sop_id} v{version}, due {due_at:%Y-%m-%d %H:%M} UTC"
            )
        lines += ["", f"Coverage for your agents: {base_url.rstrip('/')}/coverage" if base_url else ""]
        reminders.append(
            Reminder(
                manager.email,
                "manager_digest",
                f"{manager.vendor}: {len(overdue)} overdue SOP acknowledgements",
                "\n".join(lines),
            )
        )
    return reminders


def _agent_reminder(email: str, items: list[tuple], base_url: str) -> Reminder:
    """One mail to an agent; items are (assignment id, kind, due at, sop id, version, title, name)."""
    link = f"{base_url.rstrip('/')}/reading-list" if base_url else "/reading-list"
    overdue = sum(1 for i in items if i[1] == "overdue")
    lines = [f"Hello {items[0][6]},", "", "Please read and acknowledge these SOP updates:", ""]
    for _, kind, due_at, sop_id, version, title, _ in items:
        state = "OVERDUE since" if kind == "overdue" else "due by"
        lines.append(f"- {sop_id} v{version} {title}: {state} {due_at:%Y-%m-%d %H:%M} UTC")
    lines += ["", f"Your reading list: {link}", "", "The Account Security training team"]
    subject = f"Action required: {len(items)} SOP update{'s' if len(items) > 1 else ''} to acknowledge" + (
        f" ({overdue} overdue)" if overdue else ""
    )
    return Reminder(email, "agent", subject, "\n".join(lines), [i[0] for i in items], [i[1] for i in items])


REMINDER_WINDOW = timedelta(hours=24)  # what `kb remind` uses by default


@dataclass
class Skipped:
    employee_id: str
    name: str
    reason: str


@dataclass
class RemindPlan:
    """What "remind these agents" will do: one mail per overdue agent, and who is skipped and why."""

    reminders: list[Reminder]
    skipped: list[Skipped]
    agents: int  # overdue agents in the selection

    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for skip in self.skipped:
            counts[skip.reason] += 1
        return dict(counts)


def plan_overdue_reminders(
    session: Session,
    flt: CoverageFilter,
    *,
    now: datetime,
    window: timedelta = REMINDER_WINDOW,
    base_url: str = "",
    limit: int = 5000,
) -> RemindPlan:
    """A reminder now to every overdue agent in `flt` (a partner manager's filter carries their
    vendor), listing each overdue item not reminded within `window`; an agent whose every
    overdue item was reminded within it (by `kb remind` or an earlier click) is skipped. Two
    queries, whatever the number of agents."""
    agents = overdue_by_agent(session, now=now, flt=flt, sort="name", limit=limit)
    sent = _recently_sent(session, now - window)
    rows = session.execute(
        overdue_assignments(
            flt,
            now,
            [
                Assignment.id,
                Assignment.agent_id,
                Assignment.due_at,
                Requirement.sop_id,
                PublishedVersion.version,
                PublishedVersion.title,
            ],
        ).order_by(Assignment.due_at)
    ).all()
    items_of: dict[int, list] = defaultdict(list)
    for assignment_id, agent_id, due_at, sop_id, version, title in rows:
        items_of[agent_id].append((assignment_id, due_at, sop_id, version, title))
    reminders, skipped = [], []
    for agent in agents:
        if not agent.email:
            skipped.append(Skipped(agent.employee_id, agent.name, "no e-mail address on the roster"))
            continue
        fresh = [
            (assignment_id, "overdue", due_at, sop_id, version, title, agent.name)
            for assignment_id, due_at, sop_id, version, title in items_of[agent.agent_id]
            if (agent.email, "overdue", assignment_id) not in sent
        ]
        if not fresh:
            hours = int(window.total_seconds() // 3600)
            skipped.append(Skipped(agent.employee_id, agent.name, f"already reminded in the last {hours} hours"))
            continue
        reminders.append(_agent_reminder(agent.email, fresh, base_url))
    return RemindPlan(reminders=reminders, skipped=skipped, agents=len(agents))


def send_reminders(session: Session, reminders: list[Reminder], settings: Settings, *, now: datetime) -> int:
    """Send over SMTP, logging and committing each one as it goes: if the server fails half-way,
    what was sent stays logged (never sent twice) and the rest goes out on the next run."""
    if not reminders:
        return 0
    sent = 0
    with mail.smtp_connection(settings) as smtp:
        for reminder in reminders:
            smtp.send_message(mail.message(settings, reminder.recipient, reminder.subject, reminder.body))
            if reminder.kind == "manager_digest":
                session.add(ReminderLog(recipient=reminder.recipient, kind="manager_digest", sent_at=now))
            else:
                for assignment_id, kind in zip(reminder.assignment_ids, reminder.log_kinds):
                    session.add(
                        ReminderLog(recipient=reminder.recipient, kind=kind, assignment_id=assignment_id, sent_at=now)
                    )
            session.commit()
            sent += 1
    return sent


def logged_since(session: Session, recipients: list[str], since: datetime) -> int:
    """How many of `recipients` have a reminder logged at or after `since` (what a send that
    failed half-way got out: each mail is logged as it goes)."""
    if not recipients:
        return 0
    return int(
        session.scalar(
            select(func.count(func.distinct(ReminderLog.recipient))).where(
                ReminderLog.recipient.in_(recipients), ReminderLog.sent_at >= since
            )
        )
        or 0
    )
