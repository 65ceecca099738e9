"""Remediation after a failed quiz: the SOP sections behind the missed questions become a reading
task on the agent's reading list, and the bank's `retry_after` says what unlocks the retry.

- `assign_after_attempt(session, attempt, bank, result, now=...)` is called for every submitted
  attempt: it closes the agent's open task for that bank with the outcome (did the retry pass,
  were the sections read first), and on a failed certification or update attempt opens a new task
  with one section per cited source of a question not fully right.
- `mark_read(session, agent, task_id, section_id, now=...)` records that the agent read a section;
  when every section is read the task's `read_at` is set.
- `retry_gate(session, attempt_id)` is what `attempts.availability` asks about the latest failed
  attempt: the open task, if any, and whether its sections are all read.
- `open_tasks(...)` (trainers and partner managers: who is in remediation) and
  `outcomes(...)` (how often remediation led to a pass) aggregate in SQL.

No Flask here; the reading list and the pages call these functions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from kb_app.catalog.sections import split_sections, text_for_tier
from kb_app.models import Agent
from kb_app.models.quizzes import QuizAttempt, RemediationSection, RemediationTask
from kb_app.versions import latest_versions


class RemediationError(Exception):
    def __init__(self, code: str, message: str, status: int):
        self.code, self.message, self.status = code, message, status
        super().__init__(message)


# --- assigning and closing ---------------------------------------------------------------------


def missed_sources(bank, result) -> Counter:
    """Source -> number of questions not fully right that cite it, in attempt order."""
    missed: Counter = Counter()
    for graded in result.questions:
        if not graded.correct:
            missed[bank.question(graded.question_id).source] += 1
    return missed


def assign_after_attempt(
    session: Session, attempt: QuizAttempt, bank, result, *, now: datetime
) -> RemediationTask | None:
    """Close the open task of this agent and bank with this attempt's outcome; after a fail, open
    a new task with the missed sections. Returns the new task, if any."""
    _close_open(session, attempt, passed=bool(result.passed), now=now)
    if result.passed:
        return None
    missed = missed_sources(bank, result)
    if not missed:
        return None
    task = RemediationTask(
        attempt_id=attempt.id, agent_id=attempt.agent_id, bank_id=attempt.bank_id, kind=attempt.kind, created_at=now
    )
    for source, count in missed.items():
        sop_id, _, anchor = source.partition("#")
        task.sections.append(RemediationSection(source=source, sop_id=sop_id, anchor=anchor, questions_missed=count))
    session.add(task)
    session.flush()
    return task


def _close_open(session: Session, attempt: QuizAttempt, *, passed: bool, now: datetime) -> int:
    result = session.execute(
        update(RemediationTask)
        .where(
            RemediationTask.agent_id == attempt.agent_id,
            RemediationTask.bank_id == attempt.bank_id,
            RemediationTask.closed_at.is_(None),
            RemediationTask.attempt_id != attempt.id,
        )
        .values(
            closed_at=now,
            retry_attempt_id=attempt.id,
            retry_passed=passed,
            read_before_retry=RemediationTask.read_at.is_not(None),
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# --- the agent's side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryGate:
    task_id: int
    all_read: bool


def retry_gate(session: Session, attempt_id: int) -> RetryGate | None:
    """The open remediation task a failed attempt assigned, and whether its sections are read."""
    row = session.execute(
        select(RemediationTask.id, RemediationTask.read_at).where(
            RemediationTask.attempt_id == attempt_id, RemediationTask.closed_at.is_(None)
        )
    ).first()
    return None if row is None else RetryGate(row.id, row.read_at is not None)


def task_for_attempt(session: Session, attempt_id: int) -> RemediationTask | None:
    """The reading task a failed attempt assigned (open or closed), if any."""
    return session.scalars(select(RemediationTask).where(RemediationTask.attempt_id == attempt_id)).first()


def tasks_of(session: Session, agent: Agent, *, open_only: bool = True) -> list[RemediationTask]:
    query = select(RemediationTask).where(RemediationTask.agent_id == agent.id)
    if open_only:
        query = query.where(RemediationTask.closed_at.is_(None))
    return list(session.scalars(query.order_by(RemediationTask.created_at.desc(), RemediationTask.id.desc())))


def task_of(session: Session, agent: Agent, task_id: Any) -> RemediationTask:
    task = session.get(RemediationTask, task_id) if isinstance(task_id, int) else None
    if task is None or task.agent_id != agent.id:
        raise RemediationError("not_found", "No such reading task.", 404)
    return task


def mark_read(session: Session, agent: Agent, task_id: int, section_id: int, *, now: datetime) -> RemediationTask:
    """Record that the agent read one section (idempotent); the task is read when all are."""
    task = task_of(session, agent, task_id)
    section = next((s for s in task.sections if s.id == section_id), None)
    if section is None:
        raise RemediationError("not_found", "That section is not part of this reading task.", 404)
    if section.read_at is None:
        section.read_at = now
    if task.read_at is None and all(s.read_at is not None for s in task.sections):
        task.read_at = now
    session.flush()
    return task


@dataclass
class SectionText:
    section: RemediationSection
    heading: str | None
    text: str | None  # Markdown below the section heading as the agent's tier reads it; None if not published
    path: str | None  # the SOP's page path in the site, for the section link


def section_texts(session: Session, agent: Agent, task: RemediationTask) -> list[SectionText]:
    """Each section's current text for the agent's tier (the latest published version)."""
    latest = latest_versions(session)
    result = []
    for section in task.sections:
        version = latest.get(section.sop_id)
        heading = text = None
        if version is not None and (version.visibility != "t2_only" or agent.tier == "T2"):
            for part in split_sections(text_for_tier(version.body, agent.tier)):
                if part.anchor == section.anchor:
                    # The page titles each section with its heading; the text is the body below it.
                    heading, text = part.heading, part.text.split("\n", 1)[1] if "\n" in part.text else ""
                    break
        result.append(SectionText(section, heading, text, version.path if version is not None else None))
    return result


# --- trainers and partner managers -----------------------------------------------------------------


@dataclass
class InRemediation:
    task_id: int
    employee_id: str
    name: str
    vendor: str
    site: str
    team: str
    bank_id: str
    kind: str
    since: datetime
    sections: int
    sections_read: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "employee_id": self.employee_id,
            "name": self.name,
            "vendor": self.vendor,
            "site": self.site,
            "team": self.team,
            "bank_id": self.bank_id,
            "kind": self.kind,
            "since": self.since.isoformat(),
            "sections": self.sections,
            "sections_read": self.sections_read,
            "status": "read, retry open" if self.sections == self.sections_read else "reading",
        }


def open_tasks(
    session: Session, *, vendor: str | None = None, bank_id: str | None = None, limit: int = 500
) -> list[InRemediation]:
    """Who is in remediation now (open tasks of active agents), oldest first, in one query."""
    sections = (
        select(
            RemediationSection.task_id,
            func.count().label("n"),
            func.sum(case((RemediationSection.read_at.is_not(None), 1), else_=0)).label("read"),
        )
        .group_by(RemediationSection.task_id)
        .subquery()
    )
    query = (
        select(RemediationTask, Agent, sections.c.n, sections.c.read)
        .join(Agent, Agent.id == RemediationTask.agent_id)
        .join(sections, sections.c.task_id == RemediationTask.id)
        .where(RemediationTask.closed_at.is_(None), Agent.active.is_(True))
        .order_by(RemediationTask.created_at, RemediationTask.id)
        .limit(limit)
    )
    if vendor is not None:
        query = query.where(Agent.vendor == vendor)
    if bank_id is not None:
        query = query.where(RemediationTask.bank_id == bank_id)
    return [
        InRemediation(
            task_id=task.id,
            employee_id=agent.employee_id,
            name=agent.name,
            vendor=agent.vendor,
            site=agent.site,
            team=agent.team,
            bank_id=task.bank_id,
            kind=task.kind,
            since=task.created_at,
            sections=int(n or 0),
            sections_read=int(read or 0),
        )
        for task, agent, n, read in session.execute(query).all()
    ]


@dataclass
class RemediationOutcomes:
    """How remediation went for one bank: tasks assigned, still open, retried, passed on retry;
    and the pass rate of retries after reading every section versus without."""

    assigned: int = 0
    open: int = 0
    retried: int = 0
    passed: int = 0
    retried_after_reading: int = 0
    passed_after_reading: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.retried if self.retried else None

    @property
    def pass_rate_after_reading(self) -> float | None:
        return self.passed_after_reading / self.retried_after_reading if self.retried_after_reading else None

    @property
    def pass_rate_without_reading(self) -> float | None:
        without = self.retried - self.retried_after_reading
        return (self.passed - self.passed_after_reading) / without if without else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "assigned": self.assigned,
            "open": self.open,
            "retried": self.retried,
            "passed_on_retry": self.passed,
            "pass_rate": self.pass_rate,
            "retried_after_reading": self.retried_after_reading,
            "pass_rate_after_reading": self.pass_rate_after_reading,
            "pass_rate_without_reading": self.pass_rate_without_reading,
        }


def outcomes(session: Session, bank_id: str, *, vendor: str | None = None) -> RemediationOutcomes:
    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    query = (
        select(
            func.count().label("assigned"),
            count(RemediationTask.closed_at.is_(None)).label("open"),
            count(RemediationTask.retry_passed.is_not(None)).label("retried"),
            count(RemediationTask.retry_passed.is_(True)).label("passed"),
            count(RemediationTask.read_before_retry.is_(True) & RemediationTask.retry_passed.is_not(None)).label(
                "retried_after_reading"
            ),
            count(RemediationTask.read_before_retry.is_(True) & RemediationTask.retry_passed.is_(True)).label(
                "passed_after_reading"
            ),
        )
        .select_from(RemediationTask)
        .join(Agent, Agent.id == RemediationTask.agent_id)
        .where(RemediationTask.bank_id == bank_id)
    )
    if vendor is not None:
        query = query.where(Agent.vendor == vendor)
    row = session.execute(query).mappings().one()
    return RemediationOutcomes(**{key: int(value or 0) for key, value in row.items()})
