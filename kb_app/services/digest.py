"""`kb digest send`: the weekly e-mail digest to the LOB lead(s) and each partner manager.

A digest is a list of sections, each from one provider: a function `(session, window, vendor)
-> Section | None` (None: nothing to say this week). The lead's digest covers every vendor
(vendor None); a partner manager's only their own vendor, and never names Tier 2-only material.
Every section links to the page it summarises. To add a section, write a provider and add it to
`PROVIDERS`, in the order the digest shows them.

Each recipient gets one digest per week (the ISO week, Monday 00:00 UTC, the digest is sent in):
`digest_log` keeps one row per recipient and week, written with the audit entry as each mail is
handed to the SMTP server, so a run that fails half-way leaves the rest for the next run and
never sends anyone the same week twice. The mail has a plain-text part and an HTML part in which
every name from the roster or the catalog is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb_app import audit, mail
from kb_app.acks import coverage, crisis
from kb_app.improvement import actions, gaps, outcomes
from kb_app.config import Settings
from kb_app.models import PublishedVersion, Requirement, User
from kb_app.models.digest import DigestLog
from kb_app.quizzes.library import LoadedBanks

TOP_ROWS = 5
ACTOR = "kb digest"


@dataclass(frozen=True)
class Window:
    """The week a digest is for: its key (`week_start`, a Monday) and the span its "new this
    week" figures cover (the seven days up to `end`, the time of sending)."""

    week_start: date
    start: datetime
    end: datetime
    certification_banks: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def ending(cls, now: datetime, banks: LoadedBanks | None = None) -> Window:
        monday = (now - timedelta(days=now.weekday())).date()
        return cls(
            week_start=monday,
            start=now - timedelta(days=7),
            end=now,
            certification_banks=crisis.certification_banks_by_tier(banks) if banks is not None else {},
        )


@dataclass
class Section:
    key: str
    title: str
    summary: str
    items: list[str]
    link_path: str
    link_label: str


Provider = Callable[[Session, Window, "str | None"], "Section | None"]


def _pct(value: float) -> str:
    return f"{value:g}%"


def coverage_section(session: Session, window: Window, vendor: str | None) -> Section | None:
    """Open requirements: acknowledged, overdue, the furthest behind."""
    flt = coverage.CoverageFilter(vendor=vendor)
    rows = coverage.coverage(session, by=["requirement"], now=window.end, flt=flt)
    if vendor is not None:  # a partner manager reads the Tier 1 site: no Tier 2-only SOP ids
        hidden = set(
            session.scalars(
                select(Requirement.id)
                .join(PublishedVersion, PublishedVersion.id == Requirement.version_id)
                .where(Requirement.closed_at.is_(None), PublishedVersion.visibility == "t2_only")
            )
        )
        rows = [r for r in rows if r.group["requirement_id"] not in hidden]
    if not rows:
        return Section("coverage", "Coverage", "No open acknowledgement requirements.", [], "/coverage", "Coverage")
    population = sum(r.population for r in rows)
    acknowledged = sum(r.acknowledged for r in rows)
    overdue = sum(r.overdue for r in rows)
    behind = sorted(rows, key=lambda r: (r.percent_acknowledged, -r.overdue))[:TOP_ROWS]
    pct = round(100.0 * acknowledged / population, 1) if population else 0.0
    return Section(
        "coverage",
        "Coverage",
        f"{len(rows)} open requirements: {acknowledged} of {population} acknowledgements in ({_pct(pct)}), {overdue} overdue.",
        [
            f"{r.group['sop_id']} v{r.group['version']}: {_pct(r.percent_acknowledged)} acknowledged, {r.overdue} overdue"
            for r in behind
        ],
        "/coverage",
        "Coverage",
    )


def readiness_section(session: Session, window: Window, vendor: str | None) -> Section | None:
    """Ready agents against headcount, and how each open bulletin is landing."""
    by = ["site"] if vendor else ["vendor"]
    flt = crisis.ReadinessFilter(vendor=vendor)
    rows = crisis.readiness(session, by=by, now=window.end, certification_banks=window.certification_banks, flt=flt)
    [total] = crisis.rollup(rows, []) or [crisis.ReadinessRow({}, 0, 0, 0, 0, 0)]
    items = [
        f"{row.group[by[0]]}: {row.ready} of {row.headcount} ready ({_pct(row.percent_ready)}); "
        f"{row.not_certified} not certified, {row.not_acknowledged} not acknowledged, {row.awaiting_quiz} awaiting a quiz"
        for row in rows
    ]
    for bulletin in crisis.open_bulletins(session, now=window.end, flt=flt, tier="T1" if vendor else "T2"):
        overall = bulletin.overall
        items.append(
            f"Bulletin {bulletin.sop_id} v{bulletin.version}: {overall.acknowledged} of {overall.population} "
            f"acknowledged, due {bulletin.due_at:%Y-%m-%d %H:%M} UTC; {overall.note}"
        )
    return Section(
        "readiness",
        "Readiness",
        f"{total.ready} of {total.headcount} active agents ready ({_pct(total.percent_ready)}).",
        items,
        "/readiness",
        "Readiness",
    )


def gaps_section(session: Session, window: Window, vendor: str | None) -> Section | None:
    """Candidate gaps with evidence this week that no action answers yet, strongest first. (The
    search signals are not mapped to sections here: the digest opens no search index.)"""
    found = gaps.new_gaps(session, window.start, vendor, now=window.end, tier="T1" if vendor else None)
    if not found:
        return Section("gaps", "New gaps", "No new gaps this week.", [], "/gaps", "Gaps")
    strongest = sorted(found, key=lambda g: -g.score)[:TOP_ROWS]
    return Section(
        "gaps",
        "New gaps",
        f"{len(found)} candidate gaps with evidence this week and no action yet.",
        [
            f"{g.title}{' / ' + g.section if g.section else ''}: {g.kind} ({'; '.join(e.summary for e in g.evidence[:2])})"
            for g in strongest
        ],
        "/gaps",
        "Gaps",
    )


def actions_section(session: Session, window: Window, vendor: str | None) -> Section | None:
    """Actions due in the coming week, the overdue ones first."""
    due = actions.actions_due(session, window.end + timedelta(days=7), vendor, today=window.end.date())
    if not due:
        return Section("actions", "Actions due", "No open action is due in the coming week.", [], "/actions", "Actions")
    overdue = [a for a in due if a.overdue]
    ordered = overdue + [a for a in due if not a.overdue]
    return Section(
        "actions",
        "Actions due",
        f"{len(due)} actions due by {(window.end + timedelta(days=7)):%Y-%m-%d}, {len(overdue)} overdue.",
        [
            f"{'OVERDUE ' if a.overdue else ''}{a.title} ({a.action_type}, {a.owner_email}), due {a.due_date:%Y-%m-%d}"
            for a in ordered[:TOP_ROWS]
        ],
        "/actions",
        "Actions",
    )


def outcomes_section(session: Session, window: Window, vendor: str | None) -> Section | None:
    """Actions finished this week and what their measures did, or why they cannot say yet."""
    done = outcomes.recent_outcomes(session, window.start, vendor, now=window.end)
    if not done:
        return None
    items = []
    for outcome in done[:TOP_ROWS]:
        if outcome.state != "measured":
            items.append(f"{outcome.title}: {outcome.reason or 'not measured yet'}")
            continue
        notes = "; ".join(f"{m.name} {m.note}" for m in outcome.measures)
        items.append(f"{outcome.title}: {notes}")
    return Section("outcomes", "Outcomes", f"{len(done)} actions done this week.", items, "/actions", "Actions")


# The digest's sections, in order.
PROVIDERS: list[Provider] = [coverage_section, readiness_section, gaps_section, actions_section, outcomes_section]


@dataclass
class Digest:
    recipient: str
    name: str
    vendor: str | None
    week_start: date
    subject: str
    sections: list[Section]

    def to_dict(self) -> dict:
        return {
            "recipient": self.recipient,
            "vendor": self.vendor,
            "week_start": self.week_start.isoformat(),
            "subject": self.subject,
            "sections": [s.key for s in self.sections],
        }

    def text(self, base_url: str) -> str:
        scope = self.vendor or "every vendor"
        lines = [f"Hello {self.name},", "", f"The Account Security week of {self.week_start:%Y-%m-%d}, {scope}.", ""]
        for section in self.sections:
            lines += [section.title.upper(), section.summary]
            lines += [f"- {item}" for item in section.items]
            lines += [f"{section.link_label}: {_url(base_url, section.link_path)}", ""]
        lines.append("Sent once a week by the Account Security knowledge base.")
        return "\n".join(lines)

    def html(self, base_url: str) -> str:
        e = html.escape
        scope = e(self.vendor or "every vendor")
        parts = [
            "<!doctype html><html><body>",
            f"<p>Hello {e(self.name)},</p>",
            f"<p>The Account Security week of {self.week_start:%Y-%m-%d}, {scope}.</p>",
        ]
        for section in self.sections:
            parts.append(f"<h2>{e(section.title)}</h2><p>{e(section.summary)}</p>")
            if section.items:
                parts.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in section.items) + "</ul>")
            url = e(_url(base_url, section.link_path), quote=True)
            parts.append(f'<p><a href="{url}">{e(section.link_label)}</a></p>')
        parts.append("<p>Sent once a week by the Account Security knowledge base.</p></body></html>")
        return "".join(parts)


def _url(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}{path}" if base_url else path


def recipients(session: Session) -> list[User]:
    """Active LOB leads and partner managers, leads first."""
    return list(
        session.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_(("lead", "partner_manager")))
            .order_by(User.role, User.email)
        )
    )


def plan_digests(
    session: Session, *, now: datetime, banks: LoadedBanks, providers: list[Provider] | None = None
) -> list[Digest]:
    """The digests this week still owes, one per recipient who has not had this week's."""
    window = Window.ending(now, banks)
    sent = set(session.scalars(select(DigestLog.recipient).where(DigestLog.week_start == window.week_start)))
    digests = []
    for user in recipients(session):
        if user.email in sent:
            continue
        vendor = user.vendor if user.role == "partner_manager" else None
        sections = [s for s in (provider(session, window, vendor) for provider in providers or PROVIDERS) if s]
        headline = next((s.summary for s in sections if s.key == "readiness"), "")
        subject = f"Account Security weekly digest, week of {window.week_start:%Y-%m-%d}" + (
            f" ({vendor})" if vendor else ""
        )
        if headline:
            subject += f": {headline.rstrip('.')}"
        digests.append(Digest(user.email, user.display_name, vendor, window.week_start, subject, sections))
    return digests


def message_for(digest: Digest, settings: Settings) -> EmailMessage:
    message = mail.message(settings, digest.recipient, digest.subject, digest.text(settings.base_url))
    message.add_alternative(digest.html(settings.base_url), subtype="html")
    return message


def send_digests(session: Session, digests: list[Digest], settings: Settings, *, now: datetime) -> int:
    """Send over SMTP, logging, auditing and committing each digest as it goes. A digest another
    run logged first (two cron jobs at once) is not sent again."""
    if not digests:
        return 0
    sent = 0
    with mail.smtp_connection(settings) as smtp:
        for digest in digests:
            try:
                with session.begin_nested():
                    session.add(
                        DigestLog(
                            recipient=digest.recipient, week_start=digest.week_start, vendor=digest.vendor, sent_at=now
                        )
                    )
            except IntegrityError:
                continue
            smtp.send_message(message_for(digest, settings))
            audit.record(
                session,
                "digest.send",
                actor=ACTOR,
                target=digest.recipient,
                details={
                    "week_start": digest.week_start.isoformat(),
                    "vendor": digest.vendor,
                    "sections": [s.key for s in digest.sections],
                },
            )
            session.commit()
            sent += 1
    return sent
