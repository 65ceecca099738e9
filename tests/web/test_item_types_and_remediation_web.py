"""The taker page for matching and numerical questions, the reading task after a failed attempt,
and who is in remediation (partner managers see their own vendor only)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models.quizzes import QuizAttempt, RemediationTask
from kb_app.quizzes.schema import Matching, Numerical
from tests.conftest import csrf_token_from
from tests.quizzes.factories import SECRETS, answers_for, make_new_types_bank, write_bank
from tests.web.test_quizzes_web import assert_error, bearer, drawn_of, form_for, start_on_page

BANK_ID = "cert-new-types"


@pytest.fixture
def new_types(engine, settings, sop_dir):
    sop_dir.write("ATO-RECOVERY", version="1.0")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=1), by="test")
    bank = make_new_types_bank(BANK_ID, cooldown_hours=24, retry_after="reading")
    write_bank(settings.quiz_dir, bank)
    return bank


def full_form(bank, drawn, **kwargs) -> dict:
    """form_for plus the fields of the matching and numerical questions."""
    form = form_for(bank, drawn, **kwargs)
    answers = answers_for(bank, drawn, **kwargs)
    for item in drawn.questions:
        question = bank.question(item.question_id)
        if isinstance(question, Matching):
            for prompt, choice in answers[item.key].items():
                form[f"{item.key}.{prompt}"] = choice
        elif isinstance(question, Numerical):
            form[item.key] = str(answers[item.key]).replace(".", ",")
    return form


def fail_on_page(client, engine, bank) -> str:
    public_id, html = start_on_page(client, bank.id)
    form = {"csrf_token": csrf_token_from(html), **full_form(bank, drawn_of(engine, public_id), right=False)}
    response = client.post(f"/quizzes/attempts/{public_id}", data=form)
    assert response.status_code == 303
    return client.get(response.headers["Location"]).get_data(as_text=True)


class TestTakerPage:
    def test_matching_and_numerical_render_as_native_controls_without_keys(self, client, auth, engine, new_types):
        auth.login_as("agent")
        public_id, html = start_on_page(client, BANK_ID)
        assert html.count("<fieldset") == 8
        assert 'inputmode="decimal"' in html and "(in hours)" in html
        assert html.count('class="quiz-match__select"') == 3 and "Choose…" in html
        for secret in (*SECRETS, ">Security<", '"credit"', "ATO-RECOVERY#"):
            assert secret not in html, secret

    def test_a_right_form_passes_with_comma_decimals(self, client, auth, engine, new_types):
        auth.login_as("agent")
        public_id, html = start_on_page(client, BANK_ID)
        form = {"csrf_token": csrf_token_from(html), **full_form(new_types, drawn_of(engine, public_id))}
        response = client.post(f"/quizzes/attempts/{public_id}", data=form)
        result = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Passed" in result and "100%" in result
        assert "3 of 3 pairs right" in result and "3 to 5 hours (50% credit)" in result

    def test_a_number_that_is_not_one_is_sent_back_to_fix_and_nothing_is_recorded(
        self, client, auth, engine, new_types
    ):
        auth.login_as("agent")
        public_id, html = start_on_page(client, BANK_ID)
        drawn = drawn_of(engine, public_id)
        form = {"csrf_token": csrf_token_from(html), **full_form(new_types, drawn)}
        key = next(d.key for d in drawn.questions if d.question_id == "hours")
        form[key] = "four"
        response = client.post(f"/quizzes/attempts/{public_id}", data=form)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert "enter a number, such as 4 or 4.5" in page and 'value="four"' in page and 'aria-invalid="true"' in page
        with session_scope(engine) as session:
            assert session.scalar(select(QuizAttempt.status).where(QuizAttempt.public_id == public_id)) == "open"

    def test_the_api_takes_matching_objects_and_numbers(self, client, make_user, make_token, engine, new_types):
        headers = bearer(make_token(make_user("agent")))
        view = client.post("/api/v1/quiz-attempts", json={"bank_id": BANK_ID}, headers=headers).get_json()
        matching = next(q for q in view["questions"] if q["type"] == "matching")
        assert {p["id"] for p in matching["prompts"]} == {"1", "2", "3"} and len(matching["choices"]) == 4
        answers = answers_for(new_types, drawn_of(engine, view["attempt_id"]))
        done = client.post(
            f"/api/v1/quiz-attempts/{view['attempt_id']}/submit", json={"answers": answers}, headers=headers
        )
        assert done.status_code == 200 and done.get_json()["passed"] is True
        other = client.post("/api/v1/quiz-attempts", json={"bank_id": BANK_ID}, headers=headers)
        assert other.status_code in (200, 201)


class TestRemediationPages:
    def test_a_failed_attempt_sends_the_agent_to_the_missed_sections(self, client, auth, engine, new_types):
        auth.login_as("agent")
        result = fail_on_page(client, engine, new_types)
        assert "Not passed" in result and "Re-read what you missed" in result
        listing = client.get("/reading-list").get_data(as_text=True)
        assert "Re-read after a quiz" in listing and "ATO-RECOVERY § steps" in listing
        assert '<span class="tag">0 of 2</span>' in listing
        quizzes = client.get("/quizzes").get_data(as_text=True)
        assert "Retry unlocks once you have read" in quizzes
        with session_scope(engine) as session:
            task = session.scalars(select(RemediationTask)).one()
            task_id, sections = task.id, [s.id for s in task.sections]
        page = client.get(f"/reading-list/quiz-review/{task_id}").get_data(as_text=True)
        assert "Confirm the customer" in page and page.count("I have read this section") == 2
        token = csrf_token_from(page)
        assert client.post(f"/reading-list/quiz-review/{task_id}/sections/{sections[0]}/read").status_code == 400
        first = client.post(
            f"/reading-list/quiz-review/{task_id}/sections/{sections[0]}/read", data={"csrf_token": token}
        )
        assert first.status_code == 303 and f"/reading-list/quiz-review/{task_id}" in first.headers["Location"]
        last = client.post(
            f"/reading-list/quiz-review/{task_id}/sections/{sections[1]}/read", data={"csrf_token": token}
        )
        assert last.status_code == 303 and last.headers["Location"].endswith("/quizzes")
        quizzes = client.get("/quizzes").get_data(as_text=True)
        assert "you can retry the quiz now" in quizzes and "Retry unlocks" not in quizzes
        assert "all read" in client.get("/reading-list").get_data(as_text=True)  # the kept list moved on

    def test_another_agent_gets_404(self, client, auth, engine, new_types, make_user):
        auth.login_as("agent")
        fail_on_page(client, engine, new_types)
        with session_scope(engine) as session:
            task_id = session.scalar(select(RemediationTask.id))
        auth.logout()
        auth.login_as("agent")
        assert client.get(f"/reading-list/quiz-review/{task_id}").status_code == 404

    def test_trainers_see_everyone_and_partner_managers_their_vendor(self, client, auth, engine, new_types, make_user):
        auth.login_as("agent", vendor="apex-cx")
        fail_on_page(client, engine, new_types)
        auth.logout()
        auth.login_as("trainer")
        page = client.get("/quizzes/remediation").get_data(as_text=True)
        assert "apex-cx" in page and "0 / 2" in page
        csv_text = client.get("/quizzes/remediation.csv").get_data(as_text=True)
        assert csv_text.startswith("employee_id,name,vendor") and "apex-cx" in csv_text
        analysis = client.get(f"/quizzes/banks/{BANK_ID}/analysis").get_data(as_text=True)
        assert "1 failed attempt sent agents back" in analysis
        auth.logout()
        auth.login_as("partner_manager", vendor="northwind")
        assert "Nobody is in remediation" in client.get("/quizzes/remediation").get_data(as_text=True)
        assert client.get("/quizzes/remediation?vendor=apex-cx").status_code == 403

    def test_api_reading_tasks_and_who_is_in_remediation(self, client, make_user, make_token, engine, new_types):
        agent = make_user("agent", vendor="apex-cx")
        headers = bearer(make_token(agent))
        view = client.post("/api/v1/quiz-attempts", json={"bank_id": BANK_ID}, headers=headers).get_json()
        wrong = answers_for(new_types, drawn_of(engine, view["attempt_id"]), right=False)
        client.post(f"/api/v1/quiz-attempts/{view['attempt_id']}/submit", json={"answers": wrong}, headers=headers)
        assert_error(
            client.post("/api/v1/quiz-attempts", json={"bank_id": BANK_ID}, headers=headers),
            409,
            "remediation_required",
        )
        [task] = client.get("/api/v1/me/remediation", headers=headers).get_json()["tasks"]
        listing = client.get("/api/v1/reading-list", headers=headers).get_json()
        assert listing["quiz_review"][0]["task_id"] == task["task_id"]
        for section in task["sections"]:
            done = client.post(
                f"/api/v1/me/remediation/{task['task_id']}/sections/{section['section_id']}/read", headers=headers
            )
            assert done.status_code == 200
        assert done.get_json()["read_at"]
        assert_error(client.post("/api/v1/me/remediation/x/sections/1/read", headers=headers), 404, "not_found")
        assert client.post("/api/v1/quiz-attempts", json={"bank_id": BANK_ID}, headers=headers).status_code == 201
        manager = bearer(make_token(make_user("partner_manager", vendor="northwind")))
        assert client.get("/api/v1/quiz-remediation", headers=manager).get_json() == {"in_remediation": []}
        assert_error(client.get("/api/v1/quiz-remediation?vendor=apex-cx", headers=manager), 403, "forbidden")
        trainer = bearer(make_token(make_user("trainer")))
        [row] = client.get("/api/v1/quiz-remediation", headers=trainer).get_json()["in_remediation"]
        assert row["vendor"] == "apex-cx" and row["status"] == "read, retry open"  # open until the retry is submitted
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(RemediationTask)) == 1
