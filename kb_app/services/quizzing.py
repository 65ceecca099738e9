"""Taking a quiz: start and submit an attempt, let a passed update quiz complete the
acknowledgements it gates, and send a failed attempt back to the sections it missed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kb_app.acks.gates import on_update_quiz_passed
from kb_app.catalog.languages import SOURCE_LANGUAGE
from kb_app.models import User
from kb_app.models.quizzes import QuizAttempt
from kb_app.quizzes import attempts, remediation
from kb_app.quizzes.library import LoadedBanks
from kb_app.quizzes.schema import Bank
from kb_app.quizzes.translations import choose, load_translations, localize_view
from kb_app.services.acknowledging import decide_gates, forget_agent_on_commit
from kb_app.versions import latest_versions


def start_quiz(
    session: Session, user: User, bank: Bank, banks: LoadedBanks, *, now: datetime, seed: str | None = None
) -> attempts.StartResult:
    decide_gates(session, banks, now=now, counting=False)
    return attempts.start_attempt(session, user, bank, now=now, content_hash=banks.hashes.get(bank.id), seed=seed)


def submit_quiz(
    session: Session, user: User, public_id: Any, submission: Any, banks: LoadedBanks, *, now: datetime
) -> attempts.SubmitResult:
    """Grade and record the attempt; a pass on an update bank covers the acknowledgements it gated;
    a fail puts the sections behind the missed questions on the agent's reading list."""
    decide_gates(session, banks, now=now, counting=True)
    result = attempts.submit_attempt(session, user, public_id, submission, now=now)
    bank = attempts.bank_of(session, result.attempt)
    remediation.assign_after_attempt(session, result.attempt, bank, result.result, now=now)
    if result.result.passed:
        on_update_quiz_passed(session, result.attempt.agent_id, bank)
    # A pass may cover acknowledgements, a fail adds remediation reading: either way the
    # agent's cached banner and reading list are stale once this commits.
    forget_agent_on_commit(session, result.attempt.agent_id)
    return result


def taker_in_language(
    session: Session, attempt: QuizAttempt, *, now: datetime, quiz_dir: Path, language: str | None
) -> dict[str, Any]:
    """The open attempt as its taker sees it, in their language when the bank's translation is
    current (or one minor behind) for the published versions of the SOPs it covers; otherwise in
    the source language. Grading is the same either way (ids and answer keys are the bank's)."""
    view = attempts.taker(session, attempt, now=now)
    if not language or language == SOURCE_LANGUAGE:
        return {**view, "language": SOURCE_LANGUAGE}
    bank = attempts.bank_of(session, attempt)
    current = {sop_id: row.version for sop_id, row in latest_versions(session).items()}
    chosen = choose(load_translations(quiz_dir, {bank.id: bank}), bank, language, current)
    if chosen is None:
        return {**view, "language": SOURCE_LANGUAGE}
    return localize_view(view, attempt.drawn["questions"], chosen)
