"""Quiz attempts in the database: start (a server-side draw with a recorded seed), show the taker
view, submit (graded on the server), and the attempt policy of the bank.

Policy on start: the agent's tier must be allowed to take the bank, at most `attempts_per_day`
attempts are started in any 24 hours, and after a failed attempt the agent waits
`cooldown_hours`. One attempt per agent and bank is open at a time; starting again while one is
open returns it. An attempt not submitted by its deadline (plus a short grace for the network)
is closed as `expired` with score 0, which counts as a fail.

Every refusal is an `AttemptError` with a stable `code` and the HTTP status the API answers with.
Nothing here imports Flask.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb_app.models import Agent, User
from kb_app.models.quizzes import QuizAnswer, QuizAnswerChoice, QuizAttempt, QuizBankSnapshot
from kb_app.quizzes.bank import bank_hash
from kb_app.quizzes.certification import record_certification
from kb_app.quizzes.draw import Attempt, draw_attempt, taker_view
from kb_app.quizzes.grading import (
    GradeResult,
    SubmissionError,
    grade,
    has_answer,
    parse_number,
    review_view,
    short_answer_key,
)
from kb_app.quizzes.library import bank_from_data
from kb_app.quizzes.remediation import retry_gate
from kb_app.quizzes.schema import (
    Bank,
    Matching,
    MultipleResponse,
    Numerical,
    Ordering,
    ShortAnswer,
    SingleChoice,
    TrueFalse,
    bank_to_data,
)

GRACE = timedelta(seconds=30)  # a submit sent just before the deadline still counts
PUBLIC_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_CHOICE_LENGTH = 200


class AttemptError(Exception):
    """A refused attempt action. `status` is the HTTP status; `extra` goes into the JSON error."""

    def __init__(self, code: str, message: str, status: int, **extra: Any):
        self.code, self.message, self.status, self.extra = code, message, status, extra
        super().__init__(message)


def may_take(bank: Bank | QuizBankSnapshot, tier: str) -> bool:
    """A bank is for the tier it is written for, and only for it: a Tier 2 agent neither takes a
    Tier 1 certification nor is asked to pass a Tier 1 update quiz (their update bank, if the
    change needs one, is a Tier 2 bank)."""
    return bank.tier == tier


def visible_to(bank: Bank | QuizBankSnapshot, tier: str) -> bool:
    """Whether readers of `tier` may know the bank exists at all: Tier 2 reads every bank, Tier 1
    (agents and partner managers) only Tier 1 banks. Its title names Tier 2 procedure."""
    return tier == "T2" or bank.tier == "T1"


# --- snapshots ---------------------------------------------------------------------------------


def snapshot_for(session: Session, bank: Bank, *, now: datetime, content_hash: str | None = None) -> QuizBankSnapshot:
    """The stored snapshot of this exact bank text, recorded on first use."""
    content_hash = content_hash or bank_hash(bank)
    existing = session.get(QuizBankSnapshot, content_hash)
    if existing is not None:
        return existing
    snapshot = QuizBankSnapshot(
        bank_hash=content_hash,
        bank_id=bank.id,
        kind=bank.kind,
        tier=bank.tier,
        title=bank.title,
        data=bank_to_data(bank),
        first_seen_at=now,
    )
    try:
        with session.begin_nested():
            session.add(snapshot)
    except IntegrityError:  # another request recorded the same text first
        return session.get(QuizBankSnapshot, content_hash)
    return snapshot


def bank_of(session: Session, attempt: QuizAttempt) -> Bank:
    """The bank exactly as it was when the attempt was drawn."""
    snapshot = session.get(QuizBankSnapshot, attempt.bank_hash)
    return bank_from_data(snapshot.bank_hash, snapshot.data)


# --- start -------------------------------------------------------------------------------------


@dataclass
class StartResult:
    attempt: QuizAttempt
    created: bool


def _agent_of(user: User) -> Agent:
    if user.role != "agent" or user.agent is None:
        raise AttemptError("not_an_agent", "Only agents on the roster take quizzes.", 403)
    if not user.agent.active:
        raise AttemptError("inactive", "Your roster entry is inactive.", 403)
    return user.agent


def start_attempt(
    session: Session, user: User, bank: Bank, *, now: datetime, content_hash: str | None = None, seed: str | None = None
) -> StartResult:
    """Draw a new attempt for the signed-in agent, or return the one still open."""
    agent = _agent_of(user)
    if not may_take(bank, agent.tier):
        raise AttemptError(
            "tier_not_allowed", f"{bank.title} is a {bank.tier} quiz; you are a {agent.tier} agent.", 403
        )
    close_expired(session, agent.id, now=now, bank_id=bank.id)
    open_attempt = _open_attempt(session, agent.id, bank.id)
    if open_attempt is not None:
        return StartResult(open_attempt, False)
    check_policy(session, agent.id, bank, now=now)

    snapshot = snapshot_for(session, bank, now=now, content_hash=content_hash)
    seed = seed or secrets.token_hex(8)
    drawn = draw_attempt(bank, seed)
    row = QuizAttempt(
        public_id=secrets.token_hex(16),
        user_id=user.id,
        agent_id=agent.id,
        bank_id=bank.id,
        bank_hash=snapshot.bank_hash,
        kind=bank.kind,
        sop_version=bank.version,
        seed=seed,
        drawn=drawn.to_dict(),
        pass_mark=bank.pass_mark,
        started_at=now,
        deadline=now + timedelta(minutes=bank.time_limit_minutes),
        status="open",
        max_score=sum(bank.question(d.question_id).points for d in drawn.questions),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a second start of the same agent raced this one: resume theirs
        open_attempt = _open_attempt(session, agent.id, bank.id)
        if open_attempt is None:
            raise
        return StartResult(open_attempt, False)
    return StartResult(row, True)


def _open_attempt(session: Session, agent_id: int, bank_id: str) -> QuizAttempt | None:
    return session.scalars(
        select(QuizAttempt).where(
            QuizAttempt.agent_id == agent_id, QuizAttempt.bank_id == bank_id, QuizAttempt.status == "open"
        )
    ).first()


@dataclass(frozen=True)
class Availability:
    """When the agent may start the bank next: now (`available_at` None) or later, and why."""

    available_at: datetime | None  # None and a reason: only reading the missed sections unlocks it
    reason: str | None = None  # cooldown | attempt_limit | remediation
    attempts_today: int = 0
    remediation_task_id: int | None = None  # the reading task that unlocks the retry

    @property
    def available(self) -> bool:
        return self.reason is None


def availability(session: Session, agent_id: int, bank: Bank, *, now: datetime) -> Availability:
    day_ago = now - timedelta(hours=24)
    started = session.scalars(
        select(QuizAttempt.started_at)
        .where(QuizAttempt.agent_id == agent_id, QuizAttempt.bank_id == bank.id, QuizAttempt.started_at > day_ago)
        .order_by(QuizAttempt.started_at)
    ).all()
    last = session.execute(
        select(QuizAttempt.id, QuizAttempt.submitted_at, QuizAttempt.passed)
        .where(QuizAttempt.agent_id == agent_id, QuizAttempt.bank_id == bank.id, QuizAttempt.status != "open")
        .order_by(QuizAttempt.submitted_at.desc())
        .limit(1)
    ).first()
    if last is not None and not last.passed:
        waiting = _retry_wait(session, bank, last, now, len(started))
        if waiting is not None:
            return waiting
    if len(started) >= bank.attempts_per_day:
        return Availability(
            started[len(started) - bank.attempts_per_day] + timedelta(hours=24), "attempt_limit", len(started)
        )
    return Availability(None, None, len(started))


def _retry_wait(session: Session, bank: Bank, last, now: datetime, started: int) -> Availability | None:
    """What a failed attempt still holds back, by the bank's `retry_after`: the cool-down, the
    reading task it assigned (remediation), or whichever of the two ends first."""
    ready = last.submitted_at + timedelta(hours=bank.cooldown_hours) if bank.cooldown_hours else None
    cooling = ready is not None and ready > now
    gate = retry_gate(session, last.id) if bank.retry_after != "cooldown" else None
    if gate is None:  # no reading task (an expired attempt, or `cooldown`): the cool-down alone
        return Availability(ready, "cooldown", started) if cooling else None
    if gate.all_read:
        return None
    if bank.retry_after == "reading":
        return Availability(None, "remediation", started, gate.task_id)
    return Availability(ready, "remediation", started, gate.task_id) if cooling else None


def check_policy(session: Session, agent_id: int, bank: Bank, *, now: datetime) -> None:
    state = availability(session, agent_id, bank, now=now)
    if state.available:
        return
    if state.reason == "remediation":
        unless = f", or wait until {state.available_at:%Y-%m-%d %H:%M} UTC" if state.available_at is not None else ""
        raise AttemptError(
            "remediation_required",
            f"Read the sections you missed on your reading list first{unless}.",
            409,
            available_at=state.available_at.isoformat() if state.available_at else None,
            remediation_task_id=state.remediation_task_id,
        )
    when = state.available_at.strftime("%Y-%m-%d %H:%M UTC")
    if state.reason == "cooldown":
        raise AttemptError(
            "cooldown",
            f"After a failed attempt, wait {bank.cooldown_hours} hours: you can try again from {when}.",
            429,
            available_at=state.available_at.isoformat(),
        )
    raise AttemptError(
        "attempt_limit",
        f"You have used all {bank.attempts_per_day} attempts for 24 hours: the next one is possible from {when}.",
        429,
        available_at=state.available_at.isoformat(),
    )


def close_expired(session: Session, agent_id: int | None = None, *, now: datetime, bank_id: str | None = None) -> int:
    """Close open attempts past their deadline and grace as `expired`: score 0, a fail."""
    query = select(QuizAttempt).where(QuizAttempt.status == "open", QuizAttempt.deadline < now - GRACE)
    if agent_id is not None:
        query = query.where(QuizAttempt.agent_id == agent_id)
    if bank_id is not None:
        query = query.where(QuizAttempt.bank_id == bank_id)
    closed = 0
    for attempt in session.scalars(query).all():
        result = session.execute(
            update(QuizAttempt)
            .where(QuizAttempt.id == attempt.id, QuizAttempt.status == "open")
            .values(status="expired", submitted_at=attempt.deadline, score=0.0, percent=0.0, passed=False)
        )
        closed += result.rowcount or 0
    if closed:
        session.expire_all()
    return closed


# --- finding an attempt --------------------------------------------------------------------------


def attempt_for(session: Session, user: User, public_id: Any) -> QuizAttempt:
    """The user's own attempt by its public id; refuses malformed, unknown and other users' ids."""
    if not isinstance(public_id, str) or not PUBLIC_ID.match(public_id):
        raise AttemptError("bad_attempt_id", "That is not an attempt id.", 400)
    attempt = session.scalars(select(QuizAttempt).where(QuizAttempt.public_id == public_id)).first()
    if attempt is None:
        raise AttemptError("attempt_not_found", "No such attempt.", 404)
    if attempt.user_id != user.id:
        raise AttemptError("not_your_attempt", "This attempt belongs to someone else.", 403)
    return attempt


def is_overdue(attempt: QuizAttempt, now: datetime) -> bool:
    return now > attempt.deadline + GRACE


def refresh(session: Session, attempt: QuizAttempt, *, now: datetime) -> QuizAttempt:
    """Close the attempt if its time ran out, and return it as it is now."""
    if attempt.status == "open" and is_overdue(attempt, now):
        close_expired(session, attempt.agent_id, now=now, bank_id=attempt.bank_id)
        session.refresh(attempt)
    return attempt


def timing(attempt: QuizAttempt, now: datetime) -> dict[str, Any]:
    left = max(0, int((attempt.deadline - now).total_seconds()))
    return {
        "started_at": attempt.started_at.isoformat(),
        "deadline": attempt.deadline.isoformat(),
        "seconds_left": left,
    }


def taker(session: Session, attempt: QuizAttempt, *, now: datetime) -> dict[str, Any]:
    """What the taker sees while the attempt is open: no keys, no explanations, no sources."""
    bank = bank_of(session, attempt)
    view = taker_view(bank, Attempt.from_dict(attempt.drawn))
    return {"attempt_id": attempt.public_id, "status": attempt.status, **timing(attempt, now), **view}


# --- submit -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionSummary:
    """What the taker is about to submit, by question number: shown before they confirm."""

    answered: list[int]
    unanswered: list[int]
    flagged: list[int]  # marked "flag for review" by the taker (answered or not)

    @property
    def total(self) -> int:
        return len(self.answered) + len(self.unanswered)

    @property
    def empty(self) -> bool:
        return not self.answered


def submission_summary(attempt: QuizAttempt, submission: Mapping[str, Any], flagged: Any = ()) -> SubmissionSummary:
    """Answered, unanswered and flagged questions of a submission (in the taker's labels)."""
    keys = Attempt.from_dict(attempt.drawn).keys
    marked = set(flagged)
    answered = [n for n, key in enumerate(keys, start=1) if has_answer(submission.get(key))]
    return SubmissionSummary(
        answered,
        [n for n in range(1, len(keys) + 1) if n not in answered],
        [n for n, key in enumerate(keys, start=1) if key in marked],
    )


@dataclass
class SubmitResult:
    attempt: QuizAttempt
    result: GradeResult


def submit_attempt(session: Session, user: User, public_id: Any, submission: Any, *, now: datetime) -> SubmitResult:
    """Grade the submission on the server and record it, once. Refusals leave nothing behind."""
    attempt = attempt_for(session, user, public_id)
    if attempt.status == "submitted":
        raise AttemptError("already_submitted", "This attempt was already submitted.", 409)
    if attempt.status == "expired" or is_overdue(attempt, now):
        raise AttemptError(
            "time_limit_passed",
            f"The time limit ended at {attempt.deadline:%H:%M:%S} UTC; this attempt counts as not passed.",
            409,
        )
    bank = bank_of(session, attempt)
    drawn = Attempt.from_dict(attempt.drawn)
    if not isinstance(submission, Mapping):
        raise AttemptError("invalid_answers", "Send the answers as an object mapping q1, q2 ... to answers.", 422)
    try:
        result = grade(bank, drawn, submission)
    except SubmissionError as error:
        raise AttemptError("invalid_answers", str(error), 422) from None
    if not any(has_answer(submission.get(key)) for key in drawn.keys):
        # An accidental empty submit is not a 0 % fail: nothing is graded, no cool-down starts.
        raise AttemptError(
            "empty_submission",
            "You have not answered any question. Answer at least one before you submit: "
            "nothing was graded and your attempt is still open.",
            422,
        )
    answers = {key: value for key, value in submission.items() if value is not None}
    done = session.execute(
        update(QuizAttempt)
        .where(QuizAttempt.id == attempt.id, QuizAttempt.status == "open")
        .values(
            status="submitted",
            submitted_at=now,
            submission=answers,
            score=result.score,
            percent=result.percent,
            passed=result.passed,
        )
    )
    if not done.rowcount:  # a concurrent submit of the same attempt won
        raise AttemptError("already_submitted", "This attempt was already submitted.", 409)
    _record_answers(session, attempt, bank, drawn, answers, result)
    session.refresh(attempt)
    if result.passed and bank.kind == "certification":
        record_certification(session, attempt, bank, now=now)
    return SubmitResult(attempt, result)


def _record_answers(
    session: Session, attempt: QuizAttempt, bank: Bank, drawn: Attempt, answers: dict, result: GradeResult
) -> None:
    rows = []
    choices = []
    for drawn_question, graded in zip(drawn.questions, result.questions):
        question = bank.question(drawn_question.question_id)
        rows.append(
            {
                "attempt_id": attempt.id,
                "bank_id": attempt.bank_id,
                "question_key": drawn_question.key,
                "question_id": question.id,
                "question_type": question.type,
                "source": question.source,
                "answered": graded.answered,
                "points_earned": graded.points_earned,
                "points_max": graded.points_max,
                "fraction": graded.points_earned / graded.points_max,
                "correct": graded.correct,
            }
        )
        choices.append(chosen_values(question, drawn_question, answers.get(drawn_question.key)))
    # Core inserts (one statement each, ids back in order): a submit writes a dozen rows or more.
    ids = session.scalars(insert(QuizAnswer).returning(QuizAnswer.id, sort_by_parameter_order=True), rows).all()
    choice_rows = [
        {"answer_id": answer_id, "choice": value} for answer_id, values in zip(ids, choices) for value in values
    ]
    if choice_rows:
        session.execute(insert(QuizAnswerChoice), choice_rows)


def chosen_values(question, drawn_question, answer) -> list[str]:
    """The answer in bank terms, one value per chosen option (see `QuizAnswerChoice`)."""
    if answer is None:
        return []
    labels = drawn_question.label_map()
    if isinstance(question, SingleChoice):
        return [labels[answer]]
    if isinstance(question, MultipleResponse):
        return [labels[label] for label in answer]
    if isinstance(question, TrueFalse):
        return ["true" if answer else "false"]
    if isinstance(question, Ordering):
        return ["-".join(labels[label] for label in answer)]
    if isinstance(question, ShortAnswer):
        value = short_answer_key(answer, question.unicode_normalize)[:MAX_CHOICE_LENGTH]
        return [value] if value else []
    if isinstance(question, Matching):
        return matching_choice_values(question, drawn_question, answer)
    if isinstance(question, Numerical):
        return [number_choice_value(parse_number(answer))]
    return []


def matching_choice_values(question: Matching, drawn_question, answer) -> list[str]:
    """One value per answered prompt: `<pair index>=<choice index>` in bank terms, so item
    analysis can count each pair (`0=2`: the first pair's prompt matched with the third answer)."""
    prompts = drawn_question.prompt_map()
    choices = drawn_question.choice_map()
    return sorted(f"{prompts[p]}={choices[c]}" for p, c in answer.items() if c is not None)


def number_choice_value(number) -> str:
    """A typed number as item analysis counts it: shortest decimal form (`4`, `4.5`, `-0.25`)."""
    text = format(float(number), ".12g")
    return text[:MAX_CHOICE_LENGTH]


def result_view(session: Session, attempt: QuizAttempt) -> dict[str, Any]:
    """The grade and the review of a finished attempt (answers only when the bank shows them)."""
    bank = bank_of(session, attempt)
    review = review_view(bank, Attempt.from_dict(attempt.drawn), attempt.submission or {})
    return {
        "attempt_id": attempt.public_id,
        "status": attempt.status,
        "bank": {"id": bank.id, "title": bank.title, "kind": bank.kind, "tier": bank.tier},
        "started_at": attempt.started_at.isoformat(),
        "submitted_at": attempt.submitted_at.isoformat() if attempt.submitted_at else None,
        "score": attempt.score,
        "max_score": attempt.max_score,
        "percent": attempt.percent,
        "pass_mark": attempt.pass_mark,
        "passed": bool(attempt.passed),
        "shows_answers": review["shows_answers"],
        "questions": review["questions"],
    }


def attempts_of(session: Session, agent_id: int, *, limit: int = 50) -> list[QuizAttempt]:
    return list(
        session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.agent_id == agent_id)
            .order_by(QuizAttempt.started_at.desc())
            .limit(limit)
        )
    )


def passed_banks(session: Session, agent_id: int) -> dict[str, datetime]:
    """Bank id -> first time the agent passed it."""
    rows = session.execute(
        select(QuizAttempt.bank_id, func.min(QuizAttempt.submitted_at))
        .where(QuizAttempt.agent_id == agent_id, QuizAttempt.passed.is_(True))
        .group_by(QuizAttempt.bank_id)
    ).all()
    return dict(rows)


@dataclass
class BankStanding:
    """One bank as the agent sees it on their quizzes page."""

    bank: Bank
    availability: Availability
    open_attempt: QuizAttempt | None
    passed_at: datetime | None
    last: QuizAttempt | None  # the latest finished attempt


def standings(session: Session, agent: Agent, banks, *, now: datetime) -> list[BankStanding]:
    """Every bank the agent may take, with when they may start it and how they did."""
    takeable = [b for b in banks if may_take(b, agent.tier)]
    if not takeable:
        return []
    ids = [b.id for b in takeable]
    close_expired(session, agent.id, now=now)
    opened = {
        a.bank_id: a
        for a in session.scalars(
            select(QuizAttempt).where(
                QuizAttempt.agent_id == agent.id, QuizAttempt.bank_id.in_(ids), QuizAttempt.status == "open"
            )
        )
    }
    last: dict[str, QuizAttempt] = {}
    for attempt in session.scalars(
        select(QuizAttempt)
        .where(QuizAttempt.agent_id == agent.id, QuizAttempt.bank_id.in_(ids), QuizAttempt.status != "open")
        .order_by(QuizAttempt.submitted_at)
    ):
        last[attempt.bank_id] = attempt
    passed = passed_banks(session, agent.id)
    return [
        BankStanding(
            bank,
            availability(session, agent.id, bank, now=now),
            opened.get(bank.id),
            passed.get(bank.id),
            last.get(bank.id),
        )
        for bank in takeable
    ]
