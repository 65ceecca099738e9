"""Quiz pages and API with honest and hostile users: taking a quiz, no answer keys before
submission, refusals with clear codes, acknowledgements that wait for the update quiz, and
reports scoped to a partner manager's vendor."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models.quizzes import QuizAnswer, QuizAttempt
from kb_app.acks.publishing import publish
from kb_app.quizzes.draw import Attempt
from kb_app.quizzes.schema import MultipleResponse, Ordering, ShortAnswer, SingleChoice, TrueFalse
from kb_app.web.api import api
from tests.conftest import csrf_token_from
from tests.quizzes.factories import SECRETS, answers_for, make_bank, write_bank

ACCEPTED = "Threat Management"


@pytest.fixture
def quiz_setup(engine, settings, sop_dir):
    """ATO-RECOVERY v1.0 published a day ago; a T1 and a T2 certification bank and an update
    bank for ATO-RECOVERY 1.0 (cool-down 0) in the app's quiz directory."""
    sop_dir.write("ATO-RECOVERY", version="1.0")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=1), by="test")
    banks = {
        "cert": make_bank("cert-t1", cooldown_hours=24),
        "cert_t2": make_bank("cert-t2", tier="T2"),
        "update": make_bank("update-ato-1-0", kind="update", version="1.0", cooldown_hours=0, attempts_per_day=10),
    }
    for bank in banks.values():
        write_bank(settings.quiz_dir, bank)
    return banks


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"], body
    return body


def assert_no_secrets(text: str) -> None:
    for secret in (*SECRETS, ACCEPTED, '"correct"', '"explanation"', "right_order", "ATO-RECOVERY#"):
        assert secret not in text, secret


def drawn_of(engine, public_id: str) -> Attempt:
    with session_scope(engine) as session:
        row = session.scalars(select(QuizAttempt).where(QuizAttempt.public_id == public_id)).one()
        return Attempt.from_dict(row.drawn)


def form_for(bank, drawn: Attempt, **kwargs) -> dict:
    """The answers as the take page's form fields."""
    answers = answers_for(bank, drawn, **kwargs)
    form: dict = {}
    for item in drawn.questions:
        question, answer = bank.question(item.question_id), answers[item.key]
        if isinstance(question, (SingleChoice, ShortAnswer, MultipleResponse)):
            form[item.key] = answer
        elif isinstance(question, TrueFalse):
            form[item.key] = "true" if answer else "false"
        elif isinstance(question, Ordering):
            for position, label in enumerate(answer, start=1):
                form[f"{item.key}.{label}"] = str(position)
    return form


def start_on_page(client, bank_id: str) -> tuple[str, str]:
    """Start from the quizzes page as an agent would; returns (attempt id, take page HTML)."""
    page = client.get("/quizzes").get_data(as_text=True)
    response = client.post(f"/quizzes/{bank_id}/start", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 303, response.get_data(as_text=True)
    public_id = response.headers["Location"].rstrip("/").split("/")[-1]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    return public_id, html


class TestTakingAQuizOnThePage:
    def test_an_agent_takes_and_passes_a_certification(self, client, auth, engine, quiz_setup):
        auth.login_as("agent")
        listing = client.get("/quizzes").get_data(as_text=True)
        assert "Bank cert-t1" in listing and "not certified" in listing and "Bank cert-t2" not in listing
        public_id, html = start_on_page(client, "cert-t1")
        assert html.count("<fieldset") == 5 and html.count("<legend>") == 5
        assert 'data-seconds-left="' in html and "submit by" in html
        assert_no_secrets(html)
        bank = quiz_setup["cert"]
        form = {"csrf_token": csrf_token_from(html), **form_for(bank, drawn_of(engine, public_id))}
        response = client.post(f"/quizzes/attempts/{public_id}", data=form)
        assert response.status_code == 303
        result = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Passed" in result and "100%" in result and "EXPLANATION-SECRET" in result  # the bank shows answers
        assert "/sop/procedures/ato-recovery/#" in result
        assert "certified" in client.get("/quizzes").get_data(as_text=True)

    def test_the_submit_form_needs_its_csrf_token(self, client, auth, engine, quiz_setup):
        auth.login_as("agent")
        public_id, _ = start_on_page(client, "cert-t1")
        response = client.post(
            f"/quizzes/attempts/{public_id}", data=form_for(quiz_setup["cert"], drawn_of(engine, public_id))
        )
        assert response.status_code == 400
        with session_scope(engine) as session:
            assert session.scalar(select(QuizAttempt.status).where(QuizAttempt.public_id == public_id)) == "open"

    def test_a_replayed_submission_is_not_graded_twice(self, client, auth, engine, quiz_setup):
        auth.login_as("agent")
        public_id, html = start_on_page(client, "cert-t1")
        form = {
            "csrf_token": csrf_token_from(html),
            **form_for(quiz_setup["cert"], drawn_of(engine, public_id), right=False),
        }
        assert client.post(f"/quizzes/attempts/{public_id}", data=form).status_code == 303
        again = client.post(
            f"/quizzes/attempts/{public_id}",
            data={**form, **form_for(quiz_setup["cert"], drawn_of(engine, public_id))},
            follow_redirects=True,
        )
        assert "already submitted" in again.get_data(as_text=True) and "Not passed" in again.get_data(as_text=True)
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(QuizAnswer)) == 5

    def test_two_items_in_the_same_place_are_shown_again_with_the_answers_kept(self, client, auth, engine, quiz_setup):
        auth.login_as("agent")
        public_id, html = start_on_page(client, "cert-t1")
        form = {"csrf_token": csrf_token_from(html), **form_for(quiz_setup["cert"], drawn_of(engine, public_id))}
        ordering = sorted(k for k in form if "." in k)
        for key in ordering:
            form[key] = "1"
        response = client.post(f"/quizzes/attempts/{public_id}", data=form)
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "give each item a different position" in page
        short_key = next(k for k, v in form.items() if v == ACCEPTED)
        assert f'name="{short_key}" maxlength="200" autocomplete="off" spellcheck="false" value="{ACCEPTED}"' in page

    def test_an_answer_for_a_question_not_drawn_is_refused(self, client, auth, engine, quiz_setup):
        auth.login_as("agent")
        public_id, html = start_on_page(client, "cert-t1")
        form = {
            "csrf_token": csrf_token_from(html),
            **form_for(quiz_setup["cert"], drawn_of(engine, public_id)),
            "q99": "a",
        }
        response = client.post(f"/quizzes/attempts/{public_id}", data=form)
        assert response.status_code == 422 and "not a question of this attempt" in response.get_data(as_text=True)

    def test_someone_elses_attempt_page_is_refused(self, client, auth, make_user, quiz_setup):
        auth.login_as("agent")
        public_id, _ = start_on_page(client, "cert-t1")
        auth.logout()
        auth.login_as("agent")
        assert client.get(f"/quizzes/attempts/{public_id}").status_code == 403
        assert client.get("/quizzes/attempts/not-an-id").status_code == 404
        assert client.get(f"/quizzes/attempts/{'0' * 32}").status_code == 404

    def test_a_submit_after_the_time_limit_is_refused(self, client, auth, engine, quiz_setup, monkeypatch):
        auth.login_as("agent")
        public_id, html = start_on_page(client, "cert-t1")
        form = {"csrf_token": csrf_token_from(html), **form_for(quiz_setup["cert"], drawn_of(engine, public_id))}
        from kb_app.web import quizzes

        later = datetime.now(timezone.utc) + timedelta(minutes=25)
        monkeypatch.setattr(quizzes, "_now", lambda: later)
        response = client.post(f"/quizzes/attempts/{public_id}", data=form, follow_redirects=True)
        page = response.get_data(as_text=True)
        assert "time limit ended" in page.lower() and "the time ran out" in page.lower()
        with session_scope(engine) as session:
            attempt = session.scalars(select(QuizAttempt).where(QuizAttempt.public_id == public_id)).one()
            assert attempt.status == "expired" and attempt.passed is False

    def test_a_tier_1_agent_cannot_start_a_tier_2_bank(self, client, auth, quiz_setup):
        auth.login_as("agent")
        page = client.get("/quizzes").get_data(as_text=True)
        response = client.post("/quizzes/cert-t2/start", data={"csrf_token": csrf_token_from(page)})
        # The same answer as for a bank that does not exist: nothing names the Tier 2 bank.
        assert response.status_code == 404 and "T2 quiz" not in response.get_data(as_text=True)
        assert client.post("/quizzes/no-such-bank/start", data={"csrf_token": csrf_token_from(page)}).status_code == 404

    def test_only_agents_take_quizzes_and_only_staff_see_reports(self, client, auth, quiz_setup):
        auth.login_as("trainer")
        assert client.get("/quizzes").status_code == 403
        auth.logout()
        auth.login_as("agent")
        for path in (
            "/quizzes/banks",
            "/quizzes/banks/cert-t1/analysis",
            "/quizzes/certifications",
            "/quizzes/certifications.csv",
        ):
            assert client.get(path).status_code == 403, path


class TestApi:
    def test_start_get_and_submit_through_the_api(self, client, make_user, make_token, engine, quiz_setup):
        headers = bearer(make_token(make_user("agent")))
        banks = client.get("/api/v1/quiz-banks", headers=headers).get_json()["banks"]
        assert {b["id"] for b in banks} == {"cert-t1", "update-ato-1-0"} and all(b["available"] for b in banks)
        started = client.post("/api/v1/quiz-attempts", json={"bank_id": "cert-t1"}, headers=headers)
        assert started.status_code == 201
        view = started.get_json()
        assert_no_secrets(json.dumps(view))
        assert view["created"] and len(view["questions"]) == 5 and view["seconds_left"] > 0
        again = client.post("/api/v1/quiz-attempts", json={"bank_id": "cert-t1"}, headers=headers)
        assert again.status_code == 200 and again.get_json()["attempt_id"] == view["attempt_id"]
        shown = client.get(f"/api/v1/quiz-attempts/{view['attempt_id']}", headers=headers)
        assert_no_secrets(shown.get_data(as_text=True))
        answers = answers_for(quiz_setup["cert"], drawn_of(engine, view["attempt_id"]))
        result = client.post(
            f"/api/v1/quiz-attempts/{view['attempt_id']}/submit", json={"answers": answers}, headers=headers
        )
        assert result.status_code == 200 and result.get_json()["passed"] is True
        assert (
            client.get(f"/api/v1/quiz-attempts/{view['attempt_id']}", headers=headers).get_json()["status"]
            == "submitted"
        )
        replay = client.post(
            f"/api/v1/quiz-attempts/{view['attempt_id']}/submit", json={"answers": answers}, headers=headers
        )
        assert_error(replay, 409, "already_submitted")
        mine = client.get("/api/v1/me/certifications", headers=headers).get_json()
        assert [(c["bank_id"], c["state"]) for c in mine["certifications"]] == [("cert-t1", "valid")]

    @pytest.fixture
    def open_attempt(self, client, make_user, make_token, quiz_setup):
        headers = bearer(make_token(make_user("agent")))
        view = client.post("/api/v1/quiz-attempts", json={"bank_id": "cert-t1"}, headers=headers).get_json()
        return headers, view

    @pytest.mark.parametrize(
        "body, status, code",
        [
            ({"answers": {"q99": "a"}}, 422, "invalid_answers"),
            ({"answers": {"q1": -1}}, 422, "invalid_answers"),
            ({"answers": {"q1": ["a"] * 10000}}, 422, "invalid_answers"),
            ({"answers": [1, 2, 3]}, 422, "invalid_answers"),
            ({"answers": None}, 422, "invalid_answers"),
            ({"answers": {f"q{i}": "a" for i in range(1000)}}, 422, "invalid_answers"),
            ([], 400, "bad_request"),
            ({"answers": {"q1": "x" * 70000}}, 413, "payload_too_large"),
        ],
    )
    def test_hostile_submissions_are_refused_with_clear_codes(self, client, open_attempt, engine, body, status, code):
        headers, view = open_attempt
        response = client.post(f"/api/v1/quiz-attempts/{view['attempt_id']}/submit", json=body, headers=headers)
        assert_error(response, status, code)
        with session_scope(engine) as session:
            assert (
                session.scalar(select(QuizAttempt.status).where(QuizAttempt.public_id == view["attempt_id"])) == "open"
            )

    def test_tampered_and_foreign_attempt_ids_are_refused(self, client, open_attempt, make_user, make_token):
        headers, view = open_attempt
        other = bearer(make_token(make_user("agent")))
        assert_error(client.get(f"/api/v1/quiz-attempts/{view['attempt_id']}", headers=other), 403, "not_your_attempt")
        assert_error(
            client.post(f"/api/v1/quiz-attempts/{view['attempt_id']}/submit", json={"answers": {}}, headers=other),
            403,
            "not_your_attempt",
        )
        tampered = view["attempt_id"][:-1] + ("1" if view["attempt_id"][-1] == "0" else "0")
        assert_error(client.get(f"/api/v1/quiz-attempts/{tampered}", headers=headers), 404, "attempt_not_found")
        for bad in ("-1", "1", "x" * 300, "%27%20OR%201%3D1"):
            assert_error(client.get(f"/api/v1/quiz-attempts/{bad}", headers=headers), 400, "bad_attempt_id")

    def test_start_refusals(self, client, make_user, make_token, engine, quiz_setup):
        headers = bearer(make_token(make_user("agent")))
        assert_error(
            client.post("/api/v1/quiz-attempts", json={"bank_id": "nope"}, headers=headers), 404, "unknown_bank"
        )
        assert_error(client.post("/api/v1/quiz-attempts", json={"bank_id": 7}, headers=headers), 400, "bad_request")
        hidden = assert_error(
            client.post("/api/v1/quiz-attempts", json={"bank_id": "cert-t2"}, headers=headers), 404, "unknown_bank"
        )
        assert "T2 quiz" not in str(hidden)
        trainer = bearer(make_token(make_user("trainer")))
        assert_error(
            client.post("/api/v1/quiz-attempts", json={"bank_id": "cert-t1"}, headers=trainer), 403, "not_an_agent"
        )
        view = client.post("/api/v1/quiz-attempts", json={"bank_id": "cert-t1"}, headers=headers).get_json()
        wrong = answers_for(quiz_setup["cert"], drawn_of(engine, view["attempt_id"]), right=False)
        failed = client.post(
            f"/api/v1/quiz-attempts/{view['attempt_id']}/submit", json={"answers": wrong}, headers=headers
        )
        assert failed.get_json()["passed"] is False and "EXPLANATION-SECRET" in failed.get_data(as_text=True)
        body = assert_error(
            client.post("/api/v1/quiz-attempts", json={"bank_id": "cert-t1"}, headers=headers),
            409,
            "remediation_required",
        )
        assert body["error"]["available_at"] and body["error"]["remediation_task_id"]
        assert "Read the sections you missed" in body["error"]["message"]

    def test_cookie_authenticated_submits_need_the_csrf_token(self, client, auth, quiz_setup):
        auth.login_as("agent")
        started = client.post("/api/v1/quiz-attempts", json={"bank_id": "cert-t1"})
        assert started.status_code == 400  # no CSRF token with the session cookie

    def test_the_openapi_document_describes_the_quiz_routes(self, client, app):
        document = client.get("/api/v1/openapi.json").get_json()
        described = {(path, method) for path, item in document["paths"].items() for method in item}
        mine = set()
        for rule in app.url_map.iter_rules():
            if (
                rule.rule.startswith("/api/v1/")
                and app.view_functions[rule.endpoint].__module__ == "kb_app.web.quizzes"
            ):
                path = rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
                mine |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
        assert mine and mine <= described
        assert api.document() == document


def acknowledge_on_page(client, sop_id="ATO-RECOVERY"):
    html = client.get(f"/reading-list/{sop_id}").get_data(as_text=True)
    marker = 'name="content_hash" value="'
    content_hash = html[html.index(marker) + len(marker) :][:64]
    return client.post(
        f"/reading-list/{sop_id}/acknowledge", data={"csrf_token": csrf_token_from(html), "content_hash": content_hash}
    )


class TestComprehensionCheckedAcknowledgement:
    def test_the_acknowledgement_counts_after_the_update_quiz(self, client, auth, engine, quiz_setup):
        auth.login_as("agent", start_date=(datetime.now(timezone.utc) - timedelta(days=90)).date())
        from kb_app.acks.publishing import sync_assignments

        with session_scope(engine) as session:
            sync_assignments(session, now=datetime.now(timezone.utc))
        assert acknowledge_on_page(client).status_code == 302
        listing = client.get("/reading-list").get_data(as_text=True)
        assert "acknowledged, quiz required" in listing and "Take the update quiz" in listing
        read = client.get("/reading-list/ATO-RECOVERY").get_data(as_text=True)
        assert "acknowledged, quiz required" in read and 'id="ack-button"' not in read
        banner = client.get("/api/v1/me/banner?path=/sop/procedures/ato-recovery/").get_json()
        assert banner["page"]["state"] == "quiz_required" and banner["page"]["quiz_required"] == ["update-ato-1-0"]
        assert "quiz required" in banner["text"]
        api_item = client.get("/api/v1/reading-list").get_json()["items"][0]
        assert api_item["quiz_required"] == ["update-ato-1-0"] and api_item["acknowledged_at"]
        bank = quiz_setup["update"]
        public_id, html = start_on_page(client, bank.id)
        form = {"csrf_token": csrf_token_from(html), **form_for(bank, drawn_of(engine, public_id), right=False)}
        client.post(f"/quizzes/attempts/{public_id}", data=form)
        assert "acknowledged, quiz required" in client.get("/reading-list").get_data(as_text=True)
        public_id, html = start_on_page(client, bank.id)  # cool-down 0: straight back in
        form = {"csrf_token": csrf_token_from(html), **form_for(bank, drawn_of(engine, public_id))}
        client.post(f"/quizzes/attempts/{public_id}", data=form)
        listing = client.get("/reading-list").get_data(as_text=True)
        assert "nothing to acknowledge" in listing and "quiz required" not in listing


@pytest.fixture
def taken(engine, quiz_setup, make_user):
    """Six agents at two vendors took the T1 certification."""
    from kb_app.quizzes import attempts

    now = datetime.now(timezone.utc) - timedelta(hours=2)
    bank = quiz_setup["cert"]
    people = [
        make_user("agent", vendor="northwind-bpo" if index % 2 else "apex-cx", language="en" if index % 2 else "es")
        for index in range(6)
    ]
    with session_scope(engine) as session:
        for index, user in enumerate(people):
            attempt = attempts.start_attempt(session, user, bank, now=now, seed=str(index)).attempt
            answers = answers_for(bank, attempt.drawn, wrong_keys={"q1", "q2"} if index < 3 else set())
            attempts.submit_attempt(session, user, attempt.public_id, answers, now=now + timedelta(minutes=3))
    return bank


class TestReports:
    def test_trainers_see_banks_item_analysis_and_coverage(self, client, auth, taken):
        auth.login_as("trainer")
        banks = client.get("/quizzes/banks").get_data(as_text=True)
        assert "Bank cert-t1" in banks and "Item analysis" in banks
        page = client.get("/quizzes/banks/cert-t1/analysis").get_data(as_text=True)
        assert "Every question" in page and "/sop/procedures/ato-recovery/#" in page and "Cronbach" in page
        by_vendor = client.get("/quizzes/banks/cert-t1/analysis?by=vendor").get_data(as_text=True)
        assert "Facility by vendor" in by_vendor and "apex-cx" in by_vendor
        assert client.get("/quizzes/banks/cert-t1/analysis?by=site").status_code == 400
        exported = client.get("/quizzes/banks/cert-t1/analysis.csv")
        rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
        assert rows and {"facility", "discrimination", "efficiency", "url", "flags"} <= set(rows[0])
        assert all(r["url"].startswith("http://localhost/sop/procedures/ato-recovery/#") for r in rows)
        coverage = client.get("/quizzes/certifications?by=vendor").get_data(as_text=True)
        assert "northwind-bpo" in coverage and "apex-cx" in coverage
        rows = list(
            csv.DictReader(io.StringIO(client.get("/quizzes/certifications.csv?by=vendor").get_data(as_text=True)))
        )
        assert {r["vendor"]: int(r["certified"]) for r in rows} == {"apex-cx": 1, "northwind-bpo": 2}

    def test_a_partner_manager_sees_their_vendor_only(self, client, auth, taken):
        auth.login_as("partner_manager", vendor="northwind-bpo")
        page = client.get("/quizzes/banks/cert-t1/analysis").get_data(as_text=True)
        assert "northwind-bpo" in page and "apex-cx" not in page
        for path in (
            "/quizzes/banks/cert-t1/analysis?vendor=apex-cx",
            "/quizzes/banks/cert-t1/analysis.csv?vendor=apex-cx",
            "/quizzes/certifications?vendor=apex-cx",
            "/quizzes/certifications.csv?vendor=apex-cx",
            "/quizzes/banks?vendor=apex-cx",
        ):
            assert client.get(path).status_code == 403, path
        rows = list(
            csv.DictReader(io.StringIO(client.get("/quizzes/certifications.csv?by=vendor").get_data(as_text=True)))
        )
        assert [r["vendor"] for r in rows] == ["northwind-bpo"]
        by_vendor = client.get("/quizzes/banks/cert-t1/analysis.csv?by=vendor").get_data(as_text=True)
        assert "apex-cx" not in by_vendor and "northwind-bpo" in by_vendor
        assert 'name="vendor"' not in client.get("/quizzes/banks/cert-t1/analysis").get_data(as_text=True)
