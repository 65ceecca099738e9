"""Rows for the loop tests: agents, searches, quiz answers, acknowledgements, written as the
platform writes them (real tables, real foreign keys)."""

from __future__ import annotations

import itertools
import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb_app.models import Agent, User
from kb_app.models.acks import Assignment, Requirement
from kb_app.models.quizzes import QuizAnswer, QuizAttempt, QuizBankSnapshot
from kb_app.models.search_log import SearchClick, SearchQuery
from kb_app.search_log import week_of

_numbers = itertools.count(1)


def add_agents(
    session: Session,
    n: int,
    *,
    vendor: str = "northwind-bpo",
    site: str = "manila",
    tier: str = "T1",
    team: str | None = None,
) -> list[Agent]:
    agents = []
    for _ in range(n):
        k = next(_numbers)
        agent = Agent(
            employee_id=f"L{k:06d}",
            name=f"Loop Agent {k}",
            email=f"loop{k}@{vendor}.example",
            tier=tier,
            vendor=vendor,
            site=site,
            team=team or f"{site} 1",
            language="en",
            manager="Lead",
            start_date=date(2025, 1, 1),
        )
        session.add(agent)
        agents.append(agent)
    session.flush()
    return agents


def add_searches(
    session: Session,
    query: str,
    n: int,
    *,
    at: datetime,
    result_count: int = 0,
    opened: bool = False,
    vendor: str = "northwind-bpo",
    tier: str = "T1",
) -> None:
    for i in range(n):
        when = at + timedelta(minutes=i)
        row = SearchQuery(
            searched_at=when,
            week_start=week_of(when),
            query=query,
            filters="",
            tier=tier,
            role="agent",
            vendor=vendor,
            result_count=result_count,
        )
        session.add(row)
        if opened:
            session.flush()
            session.add(SearchClick(search_id=row.id, clicked_at=when, sop_id="X", target="/sop/x/", rank=1))
    session.flush()


def _snapshot(session: Session, bank_id: str) -> str:
    found = session.scalar(select(QuizBankSnapshot.bank_hash).where(QuizBankSnapshot.bank_id == bank_id))
    if found:
        return found
    bank_hash = secrets.token_hex(32)
    session.add(
        QuizBankSnapshot(bank_hash=bank_hash, bank_id=bank_id, kind="certification", tier="T1", title=bank_id, data={})
    )
    session.flush()
    return bank_hash


def add_answers(
    session: Session,
    agents: list[Agent],
    *,
    bank_id: str,
    source: str,
    question_id: str,
    at: datetime,
    right: list[bool],
    other_points: list[int] | None = None,
) -> None:
    """One submitted attempt per entry of `right`: the question (1 point) plus `other_points` from
    the rest of the attempt (defaults: 3 when right, 1 when wrong, so the item discriminates)."""
    bank_hash = _snapshot(session, bank_id)
    for i, ok in enumerate(right):
        agent = agents[i % len(agents)]
        user_id = session.scalar(select(User.id).where(User.agent_id == agent.id))
        if user_id is None:
            user = User(
                email=f"u{agent.employee_id.lower()}@example.com", role="agent", agent_id=agent.id, session_nonce="x"
            )
            session.add(user)
            session.flush()
            user_id = user.id
        rest = other_points[i] if other_points is not None else (3 if ok else 1)
        score = rest + (1 if ok else 0)
        attempt = QuizAttempt(
            public_id=secrets.token_hex(16),
            user_id=user_id,
            agent_id=agent.id,
            bank_id=bank_id,
            bank_hash=bank_hash,
            kind="certification",
            seed="s",
            drawn={},
            pass_mark=3,
            started_at=at,
            deadline=at + timedelta(hours=1),
            status="submitted",
            submitted_at=at + timedelta(minutes=i % 50),
            submission={},
            score=score,
            max_score=4,
            percent=25.0 * score,
            passed=score >= 3,
        )
        session.add(attempt)
        session.flush()
        session.add(
            QuizAnswer(
                attempt_id=attempt.id,
                bank_id=bank_id,
                question_key="q1",
                question_id=question_id,
                question_type="single",
                source=source,
                answered=True,
                points_earned=1.0 if ok else 0.0,
                points_max=1,
                fraction=1.0 if ok else 0.0,
                correct=ok,
            )
        )
    session.flush()


def acknowledge_assignments(session: Session, requirement: Requirement, hours_by_site: dict[str, float]) -> None:
    """Mark the requirement's assignments acknowledged after the given hours, by agent site."""
    rows = session.execute(
        select(Assignment, Agent.site)
        .join(Agent, Agent.id == Assignment.agent_id)
        .where(Assignment.requirement_id == requirement.id)
    ).all()
    for assignment, site in rows:
        hours = hours_by_site.get(site)
        if hours is None:
            continue
        assignment.acknowledged_at = assignment.assigned_at + timedelta(hours=hours)
        assignment.seconds_to_ack = int(hours * 3600)
    session.flush()
