"""An empty submission is refused, not graded (real database, SQLite and PostgreSQL): nothing is
recorded, the attempt stays open and no cool-down starts; the summary shown before confirming
counts answered, unanswered and flagged questions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb_app.models.quizzes import QuizAnswer, QuizAttempt
from kb_app.quizzes import attempts
from kb_app.quizzes.attempts import AttemptError
from kb_app.quizzes.grading import has_answer
from tests.quizzes.factories import answers_for, make_bank

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def bank():
    return make_bank("cert-t1", cooldown_hours=24, attempts_per_day=3)


@pytest.fixture
def opened(session, make_user, bank):
    user = make_user("agent")
    attempt = attempts.start_attempt(session, user, bank, now=NOW).attempt
    session.commit()
    return user, attempt


BLANK = {"multiple": [], "short_answer": "   ", "matching": {}}


def blank_answers(attempt, bank) -> dict:
    """Every question sent, and none answered: an empty list, spaces, no match, or null."""
    out = {}
    for item in attempt.drawn["questions"]:
        out[item["key"]] = BLANK.get(bank.question(item["question_id"]).type)
    return out


@pytest.mark.parametrize("blank", [False, True], ids=["nothing-sent", "blank-values"])
def test_an_empty_submission_is_refused_and_nothing_is_graded(session, opened, bank, blank):
    user, attempt = opened
    submission = blank_answers(attempt, bank) if blank else {}
    with pytest.raises(AttemptError) as caught:
        attempts.submit_attempt(session, user, attempt.public_id, submission, now=NOW + timedelta(minutes=1))
    assert caught.value.code == "empty_submission" and caught.value.status == 422
    assert "nothing was graded" in caught.value.message
    session.rollback()
    row = session.get(QuizAttempt, attempt.id)
    assert row.status == "open" and row.score is None and row.submitted_at is None
    assert session.scalar(select(func.count()).select_from(QuizAnswer)) == 0
    # No cool-down, no attempt used up: the same attempt can still be submitted, now with answers.
    assert attempts.availability(session, user.agent.id, bank, now=NOW + timedelta(minutes=2)).available
    result = attempts.submit_attempt(
        session, user, attempt.public_id, answers_for(bank, attempt.drawn), now=NOW + timedelta(minutes=3)
    )
    assert result.attempt.status == "submitted" and result.result.passed


def test_one_answer_is_enough_to_submit_and_the_rest_score_zero(session, opened, bank):
    user, attempt = opened
    full = answers_for(bank, attempt.drawn)
    first = next(iter(full))
    result = attempts.submit_attempt(session, user, attempt.public_id, {first: full[first]}, now=NOW)
    assert result.attempt.status == "submitted" and not result.result.passed
    assert [q.answered for q in result.result.questions].count(True) == 1


def test_the_summary_counts_answered_unanswered_and_flagged(session, opened, bank):
    _, attempt = opened
    keys = [q["key"] for q in attempt.drawn["questions"]]
    full = answers_for(bank, attempt.drawn)
    partial = {keys[0]: full[keys[0]], keys[2]: full[keys[2]]}
    summary = attempts.submission_summary(attempt, partial, flagged=[keys[2], keys[3], "q999"])
    assert summary.answered == [1, 3]
    assert summary.unanswered == [n for n in range(1, len(keys) + 1) if n not in (1, 3)]
    assert summary.flagged == [3, 4] and summary.total == len(keys) and not summary.empty
    assert attempts.submission_summary(attempt, {}).empty


def test_what_counts_as_an_answer():
    assert not any(has_answer(v) for v in (None, "", "  ", [], {}, {"a": None}))
    assert all(has_answer(v) for v in ("b", ["a"], {"a": "c"}, True, False, 0, "0"))
