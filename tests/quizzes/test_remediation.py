"""Remediation after a failed quiz: the missed sections on the reading list, the retry rule of the
bank, who is in remediation, and how often remediation led to a pass (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.models.quizzes import RemediationTask
from kb_app.quizzes import remediation
from kb_app.quizzes.attempts import AttemptError
from kb_app.quizzes.library import load_directory
from kb_app.services import quizzing
from tests.quizzes.factories import answers_for, make_bank, make_new_types_bank, write_bank

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def published(session, sop_dir):
    sop_dir.write("ATO-RECOVERY")
    publish(session, load_catalog(sop_dir.root), now=T0 - timedelta(days=1), by="test", due_days=7)
    session.commit()


def loaded(tmp_path, bank):
    write_bank(tmp_path / "quizzes", bank)
    return load_directory(tmp_path / "quizzes")


def take(session, user, bank, banks, now, *, right=True, wrong_keys=frozenset()):
    attempt = quizzing.start_quiz(session, user, bank, banks, now=now).attempt
    submission = answers_for(bank, attempt.drawn, right=right, wrong_keys=wrong_keys)
    result = quizzing.submit_quiz(session, user, attempt.public_id, submission, banks, now=now + timedelta(minutes=3))
    session.commit()
    return result


def key_of(attempt, question_id):
    return next(q["key"] for q in attempt.drawn["questions"] if q["question_id"] == question_id)


def start_refusal(session, user, bank, banks, now) -> AttemptError:
    with pytest.raises(AttemptError) as caught:
        quizzing.start_quiz(session, user, bank, banks, now=now)
    session.rollback()
    return caught.value


class TestAssign:
    def test_a_failed_attempt_assigns_the_sections_of_the_missed_questions(self, session, make_user, tmp_path):
        bank = make_new_types_bank(cooldown_hours=24)
        banks = loaded(tmp_path, bank)
        user = make_user("agent")
        attempt = quizzing.start_quiz(session, user, bank, banks, now=T0).attempt
        wrong = {key_of(attempt, "route"), key_of(attempt, "hours")}  # #steps and #purpose
        submission = answers_for(bank, attempt.drawn, wrong_keys=wrong | {key_of(attempt, "first-step")})
        result = quizzing.submit_quiz(
            session, user, attempt.public_id, submission, banks, now=T0 + timedelta(minutes=2)
        )
        session.commit()
        assert not result.result.passed
        [task] = remediation.tasks_of(session, user.agent)
        assert task.attempt_id == attempt.id and task.kind == "certification" and task.read_at is None
        counts = {s.source: s.questions_missed for s in task.sections}
        assert counts == {"ATO-RECOVERY#steps": 2, "ATO-RECOVERY#purpose": 1}

    def test_a_pass_assigns_nothing(self, session, make_user, tmp_path):
        bank = make_bank(cooldown_hours=0)
        take(session, make_user("agent"), bank, loaded(tmp_path, bank), T0)
        assert session.scalar(select(func.count()).select_from(RemediationTask)) == 0

    def test_an_update_quiz_fail_assigns_too(self, session, make_user, tmp_path):
        bank = make_bank("update-ato-1-0", kind="update", version="1.0", cooldown_hours=0)
        user = make_user("agent")
        take(session, user, bank, loaded(tmp_path, bank), T0, right=False)
        [task] = remediation.tasks_of(session, user.agent)
        assert task.kind == "update" and {s.anchor for s in task.sections} == {"steps", "purpose"}


class TestRetryRule:
    @pytest.mark.parametrize("rule", ["reading", "reading_or_cooldown"])
    def test_reading_the_missed_sections_unlocks_the_retry(self, session, make_user, tmp_path, rule):
        bank = make_bank(cooldown_hours=24, retry_after=rule)
        banks = loaded(tmp_path, bank)
        user = make_user("agent")
        take(session, user, bank, banks, T0, right=False)
        later = T0 + timedelta(hours=1)
        refusal = start_refusal(session, user, bank, banks, later)
        assert refusal.code == "remediation_required" and refusal.status == 409
        [task] = remediation.tasks_of(session, user.agent)
        assert refusal.extra["remediation_task_id"] == task.id
        assert (refusal.extra["available_at"] is None) == (rule == "reading")
        first, *rest = task.sections
        remediation.mark_read(session, user.agent, task.id, first.id, now=later)
        session.commit()
        assert start_refusal(session, user, bank, banks, later).code == "remediation_required"
        for section in rest:
            remediation.mark_read(session, user.agent, task.id, section.id, now=later)
        session.commit()
        assert remediation.tasks_of(session, user.agent)[0].read_at == later
        assert quizzing.start_quiz(session, user, bank, banks, now=later).created

    def test_reading_or_cooldown_also_unlocks_when_the_cooldown_ends(self, session, make_user, tmp_path):
        bank = make_bank(cooldown_hours=24)
        banks = loaded(tmp_path, bank)
        user = make_user("agent")
        take(session, user, bank, banks, T0, right=False)
        assert start_refusal(session, user, bank, banks, T0 + timedelta(hours=23)).code == "remediation_required"
        assert quizzing.start_quiz(session, user, bank, banks, now=T0 + timedelta(hours=25)).created

    def test_reading_only_never_unlocks_by_waiting(self, session, make_user, tmp_path):
        bank = make_bank(cooldown_hours=1, retry_after="reading")
        banks = loaded(tmp_path, bank)
        user = make_user("agent")
        take(session, user, bank, banks, T0, right=False)
        assert start_refusal(session, user, bank, banks, T0 + timedelta(days=30)).code == "remediation_required"

    def test_cooldown_rule_ignores_reading(self, session, make_user, tmp_path):
        bank = make_bank(cooldown_hours=24, retry_after="cooldown")
        banks = loaded(tmp_path, bank)
        user = make_user("agent")
        take(session, user, bank, banks, T0, right=False)
        [task] = remediation.tasks_of(session, user.agent)  # assigned all the same, as reading
        for section in task.sections:
            remediation.mark_read(session, user.agent, task.id, section.id, now=T0 + timedelta(hours=1))
        session.commit()
        assert start_refusal(session, user, bank, banks, T0 + timedelta(hours=2)).code == "cooldown"
        assert quizzing.start_quiz(session, user, bank, banks, now=T0 + timedelta(hours=25)).created


class TestAgentSide:
    def test_section_texts_come_from_the_published_version(self, session, make_user, tmp_path, published):
        bank = make_bank(cooldown_hours=0)
        user = make_user("agent")
        take(session, user, bank, loaded(tmp_path, bank), T0, right=False)
        [task] = remediation.tasks_of(session, user.agent)
        texts = {t.section.anchor: t for t in remediation.section_texts(session, user.agent, task)}
        assert texts["steps"].heading == "Steps" and "Confirm the customer's identity" in texts["steps"].text
        assert texts["purpose"].path.endswith(".md")

    def test_an_agent_cannot_read_or_mark_another_agents_task(self, session, make_user, tmp_path):
        bank = make_bank(cooldown_hours=0)
        owner, other = make_user("agent"), make_user("agent")
        take(session, owner, bank, loaded(tmp_path, bank), T0, right=False)
        [task] = remediation.tasks_of(session, owner.agent)
        with pytest.raises(remediation.RemediationError):
            remediation.mark_read(session, other.agent, task.id, task.sections[0].id, now=T0)
        with pytest.raises(remediation.RemediationError):
            remediation.mark_read(session, owner.agent, task.id, 10**9, now=T0)

    def test_marking_read_twice_keeps_the_first_time(self, session, make_user, tmp_path):
        bank = make_bank(cooldown_hours=0)
        user = make_user("agent")
        take(session, user, bank, loaded(tmp_path, bank), T0, right=False)
        [task] = remediation.tasks_of(session, user.agent)
        section = task.sections[0]
        remediation.mark_read(session, user.agent, task.id, section.id, now=T0)
        remediation.mark_read(session, user.agent, task.id, section.id, now=T0 + timedelta(hours=1))
        assert section.read_at == T0


class TestReports:
    def test_who_is_in_remediation_and_vendor_scope(self, session, make_user, tmp_path):
        bank = make_bank(cooldown_hours=0)
        banks = loaded(tmp_path, bank)
        apex = make_user("agent", vendor="apex-cx")
        north = make_user("agent", vendor="northwind")
        take(session, apex, bank, banks, T0, right=False)
        take(session, north, bank, banks, T0, right=False)
        rows = remediation.open_tasks(session)
        assert {r.vendor for r in rows} == {"apex-cx", "northwind"}
        [mine] = remediation.open_tasks(session, vendor="apex-cx")
        assert mine.employee_id == apex.agent.employee_id and mine.sections_read == 0 and mine.sections == 2

    def test_a_retry_closes_the_task_with_its_outcome(self, session, make_user, tmp_path):
        bank = make_bank(cooldown_hours=0)
        banks = loaded(tmp_path, bank)
        reader, skipper = make_user("agent"), make_user("agent")
        for user in (reader, skipper):
            take(session, user, bank, banks, T0, right=False)
        [task] = remediation.tasks_of(session, reader.agent)
        for section in task.sections:
            remediation.mark_read(session, reader.agent, task.id, section.id, now=T0 + timedelta(hours=1))
        session.commit()
        take(session, reader, bank, banks, T0 + timedelta(hours=2))  # passes after reading
        take(session, skipper, bank, banks, T0 + timedelta(hours=2), right=False)  # fails again: a new task
        assert remediation.tasks_of(session, reader.agent) == []
        assert len(remediation.tasks_of(session, skipper.agent)) == 1
        result = remediation.outcomes(session, bank.id)
        assert (result.assigned, result.open, result.retried, result.passed) == (3, 1, 2, 1)
        assert result.pass_rate == 0.5 and result.pass_rate_after_reading == 1.0
        assert result.pass_rate_without_reading == 0.0
        assert remediation.outcomes(session, bank.id, vendor="nobody").assigned == 0
