"""Attempt persistence: server draws, the attempt policy, grading on submit, and refusals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kb_app.quizzes import attempts
from kb_app.quizzes.attempts import AttemptError
from kb_app.models.quizzes import Certification, QuizAnswer, QuizAnswerChoice, QuizAttempt, QuizBankSnapshot
from tests.quizzes.factories import SECRETS, answers_for, make_bank

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def refused(code: str, call, *args, **kwargs) -> AttemptError:
    with pytest.raises(AttemptError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value


@pytest.fixture
def bank():
    return make_bank("cert-t1", cooldown_hours=24, attempts_per_day=3)


@pytest.fixture
def agent_user(make_user):
    return make_user("agent")


def start(session, user, bank, now=NOW):
    result = attempts.start_attempt(session, user, bank, now=now)
    session.commit()
    return result.attempt


def submit(session, user, attempt, bank, now=NOW + timedelta(minutes=5), **kwargs):
    submission = answers_for(bank, attempt.drawn, **kwargs)
    result = attempts.submit_attempt(session, user, attempt.public_id, submission, now=now)
    session.commit()
    return result


class TestStart:
    def test_the_server_draws_with_a_recorded_seed_and_snapshot(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        assert attempt.status == "open" and len(attempt.seed) == 16
        assert attempt.deadline == NOW + timedelta(minutes=20)
        assert [q["question_id"] for q in attempt.drawn["questions"]]
        snapshot = session.get(QuizBankSnapshot, attempt.bank_hash)
        assert snapshot.bank_id == "cert-t1" and snapshot.data["questions"]
        # The same seed draws the same attempt: the draw can be replayed for an audit.
        from kb_app.quizzes import draw_attempt

        assert draw_attempt(bank, attempt.seed).to_dict() == attempt.drawn

    def test_the_taker_view_holds_no_answer_keys_or_explanations(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        view = attempts.taker(session, attempt, now=NOW)
        text = json.dumps(view)
        for secret in SECRETS:
            assert secret not in text
        for word in ('"correct"', '"explanation"', '"accepted"', '"source"', '"answer"', '"feedback'):
            assert word not in text
        assert view["seconds_left"] == 20 * 60 and view["attempt_id"] == attempt.public_id

    def test_starting_again_resumes_the_open_attempt(self, session, agent_user, bank):
        first = start(session, agent_user, bank)
        again = attempts.start_attempt(session, agent_user, bank, now=NOW + timedelta(minutes=1))
        assert again.created is False and again.attempt.id == first.id

    def test_the_database_allows_one_open_attempt_per_agent_and_bank(self, session, agent_user, bank):
        first = start(session, agent_user, bank)
        duplicate = QuizAttempt(
            **{
                c.name: getattr(first, c.name)
                for c in QuizAttempt.__table__.columns
                if c.name not in ("id", "public_id")
            },
            public_id="f" * 32,
        )
        session.add(duplicate)
        with pytest.raises(IntegrityError):
            session.flush()

    def test_a_tier_1_agent_cannot_take_a_tier_2_bank(self, session, agent_user):
        refused(
            "tier_not_allowed", attempts.start_attempt, session, agent_user, make_bank("cert-t2", tier="T2"), now=NOW
        )

    def test_tier_2_takes_neither_tier_1_update_quizzes_nor_tier_1_certifications(self, session, make_user):
        t2 = make_user("agent", tier="T2", vendor="in-house")
        update = make_bank("update-ato-2-0", kind="update", version="2.0")
        refused("tier_not_allowed", attempts.start_attempt, session, t2, update, now=NOW)
        refused("tier_not_allowed", attempts.start_attempt, session, t2, make_bank("cert-t1"), now=NOW)
        t2_update = make_bank("update-ato-2-0-t2", kind="update", version="2.0", tier="T2")
        assert attempts.start_attempt(session, t2, t2_update, now=NOW).created

    def test_only_active_agents_take_quizzes(self, session, make_user, bank):
        refused("not_an_agent", attempts.start_attempt, session, make_user("trainer"), bank, now=NOW)
        refused("inactive", attempts.start_attempt, session, make_user("agent", active=False), bank, now=NOW)


class TestSubmit:
    def test_a_right_submission_passes_is_recorded_per_question_and_certifies(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        result = submit(session, agent_user, attempt, bank)
        assert result.result.passed and result.attempt.status == "submitted"
        assert result.attempt.score == result.attempt.max_score == 5 and result.attempt.percent == 100.0
        answers = session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id)).all()
        assert len(answers) == 5 and all(a.correct and a.answered and a.fraction == 1.0 for a in answers)
        assert {a.source for a in answers} <= {"ATO-RECOVERY#steps", "ATO-RECOVERY#purpose"}
        choices = session.scalar(select(func.count()).select_from(QuizAnswerChoice))
        assert choices == 1 + 2 + 1 + 1 + 1  # single, two multiple options, true/false, ordering, short answer
        orders = session.scalars(
            select(QuizAnswerChoice.choice).join(QuizAnswer).where(QuizAnswer.question_type == "ordering")
        ).all()
        assert orders == ["0-1-2"]
        assert session.scalar(select(func.count()).select_from(Certification)) == 1

    def test_a_wrong_submission_fails_and_does_not_certify(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        result = submit(session, agent_user, attempt, bank, right=False)
        assert not result.result.passed and result.attempt.score == 0
        assert session.scalar(select(func.count()).select_from(Certification)) == 0

    def test_a_second_submit_is_refused(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        submit(session, agent_user, attempt, bank)
        refused(
            "already_submitted",
            attempts.submit_attempt,
            session,
            agent_user,
            attempt.public_id,
            {},
            now=NOW + timedelta(minutes=6),
        )

    def test_a_submit_after_the_time_limit_is_refused_but_the_grace_is_honoured(self, session, make_user, bank):
        late_user, grace_user = make_user("agent"), make_user("agent")
        late = start(session, late_user, bank)
        refused(
            "time_limit_passed",
            attempts.submit_attempt,
            session,
            late_user,
            late.public_id,
            answers_for(bank, late.drawn),
            now=late.deadline + attempts.GRACE + timedelta(seconds=1),
        )
        session.rollback()
        on_time = start(session, grace_user, bank)
        result = attempts.submit_attempt(
            session,
            grace_user,
            on_time.public_id,
            answers_for(bank, on_time.drawn),
            now=on_time.deadline + attempts.GRACE - timedelta(seconds=1),
        )
        assert result.result.passed

    def test_an_attempt_left_open_expires_as_a_fail_with_cool_down(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        later = attempt.deadline + timedelta(minutes=5)
        attempts.refresh(session, attempt, now=later)
        assert attempt.status == "expired" and attempt.passed is False and attempt.score == 0
        assert attempt.submitted_at == attempt.deadline
        error = refused("cooldown", attempts.start_attempt, session, agent_user, bank, now=later)
        assert error.extra["available_at"] == (attempt.deadline + timedelta(hours=24)).isoformat()

    @pytest.mark.parametrize(
        "build, message",
        [
            (lambda k: {"q99": "a"}, "not a question of this attempt"),
            (lambda k: {"../q1": "a"}, "not a question of this attempt"),
            (lambda k: {k["single"]: "z"}, "unknown option"),
            (lambda k: {k["single"]: -1}, "option ids are strings"),
            (lambda k: {k["single"]: {"$gt": ""}}, "option ids are strings"),
            (lambda k: {k["multiple"]: ["a"] * 50}, "ids given but the question has"),
            (lambda k: {k["multiple"]: ["a", "a"]}, "the same id is given twice"),
            (lambda k: {k["ordering"]: ["a"]}, "put every item in order"),
            (lambda k: {k["true_false"]: "yes"}, "expected true or false"),
            (lambda k: {k["short_answer"]: "x" * 201}, "at most 200"),
            (lambda k: {f"k{i}": "a" for i in range(5000)}, "too many answers"),
            (lambda k: ["q1", "a"], "object mapping"),
            (lambda k: "a" * 100000, "object mapping"),
        ],
    )
    def test_bad_submissions_are_refused_and_nothing_is_recorded(self, session, agent_user, bank, build, message):
        attempt = start(session, agent_user, bank)
        keys = {bank.question(q["question_id"]).type: q["key"] for q in attempt.drawn["questions"]}
        error = refused(
            "invalid_answers",
            attempts.submit_attempt,
            session,
            agent_user,
            attempt.public_id,
            build(keys),
            now=NOW + timedelta(minutes=1),
        )
        assert message in error.message and error.status == 422
        session.rollback()
        assert session.get(QuizAttempt, attempt.id).status == "open"
        assert session.scalar(select(func.count()).select_from(QuizAnswer)) == 0

    def test_another_users_attempt_is_refused(self, session, make_user, bank):
        owner, other = make_user("agent"), make_user("agent")
        attempt = start(session, owner, bank)
        refused(
            "not_your_attempt",
            attempts.submit_attempt,
            session,
            other,
            attempt.public_id,
            answers_for(bank, attempt.drawn),
            now=NOW,
        )
        refused("not_your_attempt", attempts.attempt_for, session, other, attempt.public_id)

    @pytest.mark.parametrize(
        "public_id, code",
        [
            ("1", "bad_attempt_id"),
            ("-1", "bad_attempt_id"),
            ("9" * 400, "bad_attempt_id"),
            ("' OR 1=1 --", "bad_attempt_id"),
            (None, "bad_attempt_id"),
            (12, "bad_attempt_id"),
            ("0" * 32, "attempt_not_found"),
        ],
    )
    def test_malformed_and_unknown_attempt_ids_are_refused(self, session, agent_user, public_id, code):
        refused(code, attempts.attempt_for, session, agent_user, public_id)

    def test_a_tampered_attempt_id_is_unknown(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        flipped = attempt.public_id[:-1] + ("0" if attempt.public_id[-1] != "0" else "1")
        refused("attempt_not_found", attempts.submit_attempt, session, agent_user, flipped, {}, now=NOW)

    def test_an_edited_bank_file_does_not_change_an_attempt_in_flight(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        # The bank file changes after the draw (a question reworded): grading uses the snapshot.
        edited = make_bank("cert-t1", cooldown_hours=24, attempts_per_day=3, pass_mark=100)
        assert attempts.bank_of(session, attempt) == bank != edited
        assert submit(session, agent_user, attempt, bank).result.passed

    def test_the_review_shows_answers_only_when_the_bank_says_so(self, session, make_user):
        hidden = make_bank("cert-hidden", review_shows_answers=False)
        shown = make_bank("cert-shown", review_shows_answers=True)
        for bank in (hidden, shown):
            user = make_user("agent")
            attempt = start(session, user, bank)
            submit(session, user, attempt, bank, right=False)
            text = json.dumps(attempts.result_view(session, attempt))
            assert ("EXPLANATION-SECRET" in text) == bank.review_shows_answers
            assert (
                '"correct": true' in text.replace('"correct": false', "")
            ) == bank.review_shows_answers or not bank.review_shows_answers


class TestPolicy:
    def test_cool_down_after_a_fail_then_a_new_attempt(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        submitted = NOW + timedelta(minutes=5)
        submit(session, agent_user, attempt, bank, now=submitted, right=False)
        error = refused(
            "cooldown", attempts.start_attempt, session, agent_user, bank, now=submitted + timedelta(hours=23)
        )
        assert error.status == 429 and "24 hours" in error.message
        assert attempts.start_attempt(session, agent_user, bank, now=submitted + timedelta(hours=24, seconds=1)).created

    def test_no_cool_down_after_a_pass(self, session, agent_user, bank):
        attempt = start(session, agent_user, bank)
        submit(session, agent_user, attempt, bank)
        assert attempts.start_attempt(session, agent_user, bank, now=NOW + timedelta(minutes=10)).created

    def test_attempts_per_day_are_counted_over_24_hours(self, session, agent_user):
        bank = make_bank("cert-t1", cooldown_hours=0, attempts_per_day=2)
        for minute in (0, 30):
            attempt = start(session, agent_user, bank, now=NOW + timedelta(minutes=minute))
            submit(session, agent_user, attempt, bank, now=NOW + timedelta(minutes=minute + 5), right=False)
        error = refused(
            "attempt_limit", attempts.start_attempt, session, agent_user, bank, now=NOW + timedelta(hours=2)
        )
        assert error.extra["available_at"] == (NOW + timedelta(hours=24)).isoformat()
        assert attempts.start_attempt(session, agent_user, bank, now=NOW + timedelta(hours=24, seconds=1)).created

    def test_availability_says_when_and_why(self, session, agent_user, bank):
        state = attempts.availability(session, agent_user.agent.id, bank, now=NOW)
        assert state.available and state.attempts_today == 0
        attempt = start(session, agent_user, bank)
        submit(session, agent_user, attempt, bank, right=False)
        state = attempts.availability(session, agent_user.agent.id, bank, now=NOW + timedelta(hours=1))
        assert state.reason == "cooldown" and state.attempts_today == 1
