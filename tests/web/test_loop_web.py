"""Feedback, gaps and action plans through the web app and the `kb` command, on both databases:
CSRF, vendor scope, tiers, escaping, the per-agent flood limit, SMTP reminders."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.improvement import actions
from kb_app.search import build_index
from improvement.loop_data import add_searches
from fixtures.smtp import free_port
from kb_app.models import AuditEvent
from kb_app.models.improvement import ActionReminder, FeedbackFlag, ImprovementAction
from tests.web.test_hot_paths import counted

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def published(engine, sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=2), by="test")


def _form_token(client) -> str:
    response = client.get("/api/v1/feedback/form")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["csrf_token"]


def _flag(client, token=None, **fields):
    body = {"sop_id": "ATO-RECOVERY", "anchor": "steps", "kind": "missing_step", "comment": "step 3?", **fields}
    headers = {"X-CSRFToken": token} if token else {}
    return client.post("/api/v1/feedback", json=body, headers=headers)


def count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_an_agent_flags_from_the_page_with_the_sessions_csrf_token(client, auth, published, engine):
    auth.login_as("agent")
    assert _flag(client).status_code == 400  # no CSRF token: a cross-site post cannot flag
    response = _flag(client, _form_token(client), comment=SCRIPT)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["sop_id"], body["version"], body["anchor"], body["status"]) == ("ATO-RECOVERY", "1.0", "steps", "open")
    assert body["comment"] == SCRIPT and response.mimetype == "application/json"
    page = client.get("/feedback/mine").get_data(as_text=True)
    assert SCRIPT not in page and "&lt;script&gt;" in page


def test_bearer_tokens_flag_and_tier1_agents_cannot_name_tier2_sops(client, make_user, make_token, published):
    token = make_token(make_user("agent"))
    headers = {"Authorization": f"Bearer {token}"}
    ok = client.post(
        "/api/v1/feedback",
        json={"sop_id": "ATO-RECOVERY", "anchor": "purpose", "kind": "unclear", "comment": "why?"},
        headers=headers,
    )
    assert ok.status_code == 201
    hidden = client.post(
        "/api/v1/feedback",
        json={"sop_id": "T2-INFRA", "anchor": "purpose", "kind": "unclear", "comment": "x"},
        headers=headers,
    )
    unknown = client.post(
        "/api/v1/feedback",
        json={"sop_id": "NOPE", "anchor": "purpose", "kind": "unclear", "comment": "x"},
        headers=headers,
    )
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.get_json()["error"]["message"].replace("T2-INFRA", "NOPE") == unknown.get_json()["error"]["message"]
    too_long = client.post(
        "/api/v1/feedback",
        json={"sop_id": "ATO-RECOVERY", "anchor": "purpose", "kind": "unclear", "comment": "x" * 501},
        headers=headers,
    )
    assert too_long.status_code == 400 and "comment" in too_long.get_json()["error"]["message"]
    trainer = make_token(make_user("trainer"))
    refused = client.post(
        "/api/v1/feedback",
        json={"sop_id": "ATO-RECOVERY", "anchor": "purpose", "kind": "unclear", "comment": "x"},
        headers={"Authorization": f"Bearer {trainer}"},
    )
    assert refused.status_code == 403


def test_a_flood_from_one_agent_is_cut_off_across_page_and_api(make_app, make_auth, published, engine, csrf_from):
    app = make_app(FEEDBACK_RATE_LIMIT="3 per hour")
    client = app.test_client()
    make_auth(client).login_as("agent")
    token = _form_token(client)
    statuses = [_flag(client, token).status_code for _ in range(3)]
    form = client.get("/feedback/new?sop_id=ATO-RECOVERY&anchor=steps").get_data(as_text=True)
    page = client.post(
        "/feedback",
        data={
            "sop_id": "ATO-RECOVERY",
            "anchor": "steps",
            "kind": "wrong",
            "comment": "again",
            "csrf_token": csrf_from(form),
        },
    )
    statuses += [page.status_code, _flag(client, token).status_code]
    assert statuses == [201, 201, 201, 429, 429]
    assert count(engine, FeedbackFlag) == 3
    # Another agent has their own budget.
    other = app.test_client()
    make_auth(other).login_as("agent")
    assert _flag(other, _form_token(other)).status_code == 201


def _seed_flags(engine, make_user, make_token, client):
    nw = make_user("agent", vendor="northwind-bpo")
    ax = make_user("agent", vendor="apex-cx", site="cebu")
    ids = {}
    for name, user in (("nw", nw), ("ax", ax)):
        response = client.post(
            "/api/v1/feedback",
            json={"sop_id": "ATO-RECOVERY", "anchor": "steps", "kind": "wrong", "comment": f"{name} {SCRIPT}"},
            headers={"Authorization": f"Bearer {make_token(user)}"},
        )
        assert response.status_code == 201
        ids[name] = response.get_json()["id"]
    return ids


def test_partner_managers_read_their_vendors_flags_only_and_cannot_triage(
    client, auth, make_user, make_token, published, engine
):
    ids = _seed_flags(engine, make_user, make_token, client)
    auth.login_as("partner_manager", vendor="northwind-bpo")
    page = client.get("/feedback")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "nw &lt;script&gt;" in html and "ax " not in html and SCRIPT not in html
    assert "apex-cx" not in html
    assert client.get("/feedback?vendor=apex-cx").status_code == 403
    token = auth.csrf_token()
    triage = client.post(f"/feedback/{ids['ax']}/triage", data={"decision": "dismiss", "csrf_token": token})
    assert triage.status_code == 403
    for path in ("/gaps", "/actions", "/actions.csv", f"/actions/{1}"):
        assert client.get(path).status_code in (403, 404), path


def test_agents_see_the_trainers_answer_and_cannot_reach_the_triage_pages(
    client, make_app, make_auth, make_user, make_token, published, engine
):
    ids = _seed_flags(engine, make_user, make_token, client)
    trainer = make_auth(client)
    trainer.login_as("trainer")
    assert SCRIPT not in client.get("/feedback").get_data(as_text=True)
    answered = client.post(
        f"/feedback/{ids['nw']}/triage",
        data={"decision": "answer", "answer": "Fixed in 1.1 <b>soon</b>", "csrf_token": trainer.csrf_token()},
    )
    assert answered.status_code == 303
    missing = client.post("/feedback/999999/triage", data={"decision": "dismiss", "csrf_token": trainer.csrf_token()})
    assert missing.status_code == 404
    with session_scope(engine) as session:
        flag = session.get(FeedbackFlag, ids["nw"])
        assert (flag.status, flag.answer) == ("answered", "Fixed in 1.1 <b>soon</b>")
    agent_client = make_app().test_client()
    agent = make_auth(agent_client)
    agent.login_as("agent")
    for path in ("/feedback", "/gaps", "/actions", "/actions/new"):
        assert agent_client.get(path).status_code == 403, path


def test_a_trainer_opens_an_action_from_a_gap_moves_it_and_exports_it(
    client, auth, make_user, make_token, published, engine
):
    ids = _seed_flags(engine, make_user, make_token, client)
    auth.login_as("trainer")
    gaps_page = client.get("/gaps").get_data(as_text=True)
    assert "ATO-RECOVERY" in gaps_page and "feedback" in gaps_page and SCRIPT not in gaps_page
    assert "/actions/new?gap=ATO-RECOVERY%23steps" in gaps_page
    form = client.get("/actions/new?gap=ATO-RECOVERY%23steps").get_data(as_text=True)
    assert 'value="ATO-RECOVERY#steps"' in form
    base = {
        "title": "Add the missing step",
        "owner_email": "owner@example.com",
        "team": "Training",
        "due_date": (date.today() - timedelta(days=1)).isoformat(),
        "action_type": "sop",
        "sections": "ATO-RECOVERY#steps",
        "gap": "ATO-RECOVERY#steps",
        "vendor": "northwind-bpo",
    }
    # The apex-cx flag cannot join a northwind-bpo action: refused whole, nothing written.
    refused = client.post(
        "/actions", data={**base, "flag_ids": f"{ids['nw']},{ids['ax']}", "csrf_token": auth.csrf_token()}
    )
    assert refused.status_code == 422 and "another vendor" in refused.get_data(as_text=True)
    assert count(engine, ImprovementAction) == 0
    bad_section = client.post(
        "/actions", data={**base, "sections": "ATO-RECOVERY#nope", "csrf_token": auth.csrf_token()}
    )
    assert bad_section.status_code == 422 and "no section #nope" in bad_section.get_data(as_text=True)
    created = client.post("/actions", data={**base, "flag_ids": str(ids["nw"]), "csrf_token": auth.csrf_token()})
    assert created.status_code == 303
    action_url = created.headers["Location"]
    page = client.get(action_url).get_data(as_text=True)
    assert "Add the missing step" in page and "overdue" in page and "Not measured yet" in page
    listing = client.get("/actions").get_data(as_text=True)
    assert "loop-overdue" in listing
    moved = client.post(
        action_url + "/status", data={"status": "in_progress", "note": "on it", "csrf_token": auth.csrf_token()}
    )
    assert moved.status_code == 303
    again = client.post(action_url + "/status", data={"status": "in_progress", "csrf_token": auth.csrf_token()})
    assert again.status_code == 303  # refused with a message, nothing changed
    csv = client.get("/actions.csv")
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("id,title,action_type,status,overdue")
    assert "in_progress,yes" in lines[1]
    with session_scope(engine) as session:
        action = session.scalars(select(ImprovementAction)).one()
        assert [e.to_status for e in action.events] == ["open", "in_progress"]
        assert session.get(FeedbackFlag, ids["nw"]).status == "accepted"
        assert session.scalar(select(func.count()).where(AuditEvent.action.like("action.%"))) == 2
    assert client.get("/actions/999999").status_code == 404


def test_kb_gaps_and_kb_actions_list_export_and_remind_owners_over_smtp(
    runner, published, engine, make_user, smtp, sop_dir, tmp_path
):
    inbox, port = smtp
    now = datetime.now(timezone.utc)
    with session_scope(engine) as session:
        for title, due in (("Late one", now.date() - timedelta(days=3)), ("Far one", now.date() + timedelta(days=30))):
            actions.create_action(
                session,
                actions.ActionInput(
                    title=title,
                    owner_email="owner@example.com",
                    team="Training",
                    due_date=due,
                    action_type="training",
                    sections=("ATO-RECOVERY",),
                ),
                actor="t",
                now=now,
            )
    env = {
        **runner.env,
        "KB_SOP_DIR": str(sop_dir.root),
        "KB_SMTP_HOST": "127.0.0.1",
        "KB_SMTP_PORT": str(port),
        "KB_MAIL_FROM": "kb@example.com",
        "KB_BASE_URL": "https://kb.example",
    }
    runner.env = env
    result = runner.invoke(["gaps", "--json", "--days", "7"])
    assert result.exit_code == 0, result.output
    assert "gaps" in json.loads(result.stdout)
    listed = runner.invoke(["actions", "list", "--json"])
    assert [a["title"] for a in json.loads(listed.stdout)["actions"]] == ["Late one", "Far one"]
    out = tmp_path / "actions.csv"
    assert runner.invoke(["actions", "export", "-o", str(out)]).exit_code == 0
    assert out.read_text().splitlines()[1].split(",")[1] == "Late one"
    # The mail server down: said, naming it, and no reminder recorded as sent.
    runner.env = {**env, "KB_SMTP_PORT": str(free_port())}
    down = runner.invoke(["actions", "remind"])
    assert down.exit_code == 1 and "cannot send mail through 127.0.0.1" in down.output
    assert count(engine, ActionReminder) == 0 and inbox.messages == []
    runner.env = env
    sent = runner.invoke(["actions", "remind", "--json"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["sent"] == 1
    [message] = inbox.messages
    assert message["To"] == "owner@example.com" and "Late one" in message["Subject"]
    assert "https://kb.example/actions/" in message.get_content()
    # Not twice within the window.
    assert json.loads(runner.invoke(["actions", "remind", "--json"]).stdout)["sent"] == 0
    assert count(engine, ActionReminder) == 1
    bad = runner.invoke(["gaps", "--days", "0"])
    assert bad.exit_code == 2


def test_the_gaps_page_is_a_constant_number_of_queries(
    make_app, make_auth, settings, make_user, make_token, published, engine
):
    client = make_app(settings.replace(cache_seconds=0)).test_client()
    make_auth(client).login_as("trainer")
    first = make_token(make_user("agent", site="site-first"))
    body = {"sop_id": "ATO-RECOVERY", "anchor": "steps", "kind": "wrong", "comment": "first"}
    assert client.post("/api/v1/feedback", json=body, headers={"Authorization": f"Bearer {first}"}).status_code == 201
    client.get("/gaps")  # the catalog and the matcher are loaded once
    with counted(engine) as few:
        assert client.get("/gaps").status_code == 200
    for n in range(6):
        token = make_token(make_user("agent", site=f"site-{n}"))
        for anchor in ("steps", "purpose"):
            response = client.post(
                "/api/v1/feedback",
                json={"sop_id": "ATO-RECOVERY", "anchor": anchor, "kind": "wrong", "comment": f"n{n}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201
    client.get("/gaps")  # new users and tokens: the signed-in user is read again once (users.identities)
    with counted(engine) as many:
        html = client.get("/gaps").get_data(as_text=True)
    assert "7 flag(s)" in html
    assert len(many) == len(few), many


def test_the_gaps_page_reuses_its_gaps_for_a_while_and_forgets_them_on_a_new_action(
    client, auth, make_user, make_token, published, engine
):
    auth.login_as("trainer")
    assert "No gap" in client.get("/gaps").get_data(as_text=True)
    token = make_token(make_user("agent"))
    body = {"sop_id": "ATO-RECOVERY", "anchor": "steps", "kind": "wrong", "comment": "late"}
    assert client.post("/api/v1/feedback", json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 201
    with counted(engine) as statements:
        assert "No gap" in client.get("/gaps").get_data(as_text=True)  # within KB_CACHE_SECONDS
    assert not [s for s in statements if "feedback_flags" in s]
    made = client.post(
        "/actions",
        data={
            "title": "x",
            "owner_email": "o@example.com",
            "team": "T",
            "due_date": "2030-01-01",
            "action_type": "sop",
            "csrf_token": auth.csrf_token(),
        },
    )
    assert made.status_code == 303
    assert "1 flag(s)" in client.get("/gaps").get_data(as_text=True)


def test_search_results_offer_the_flag_and_gaps_map_failed_searches_to_sections(
    make_app, make_auth, settings, sop_dir, published, engine, tmp_path, csrf_from
):
    build_index(sop_dir.root, tmp_path / "loop-index")
    app = make_app(settings.replace(index_dir=tmp_path / "loop-index"))
    client = app.test_client()
    make_auth(client).login_as("agent")
    html = client.get("/search", query_string={"q": "confirm identity"}).get_data(as_text=True)
    links = [unescape(m) for m in re.findall(r'class="result__flag small" href="([^"]+)"', html)]
    assert links, "no flag link on the results"
    params = parse_qs(urlsplit(links[0]).query)
    assert params["sop_id"] == ["ATO-RECOVERY"] and params["anchor"] == ["steps"] and params["version"] == ["1.0"]
    form = client.get(links[0]).get_data(as_text=True)
    sent = client.post(
        "/feedback",
        data={
            "sop_id": "ATO-RECOVERY",
            "anchor": "steps",
            "version": "1.0",
            "kind": "unclear",
            "comment": "which identity checks?",
            "next": params["next"][0],
            "csrf_token": csrf_from(form),
        },
    )
    assert sent.status_code == 303 and sent.headers["Location"].startswith("/search?")
    # An outside `next` is not followed.
    outside = client.post(
        "/feedback",
        data={
            "sop_id": "ATO-RECOVERY",
            "anchor": "steps",
            "kind": "unclear",
            "comment": "x",
            "next": "//evil.example/",
            "csrf_token": csrf_from(form),
        },
    )
    assert outside.headers["Location"] == "/feedback/mine"
    # A Tier 1 search that found nothing, which the full index answers: a tooling gap on that section.
    with session_scope(engine) as session:
        add_searches(session, "confirm identity", 4, at=datetime.now(timezone.utc) - timedelta(days=1))
    staff = make_app(settings.replace(index_dir=tmp_path / "loop-index")).test_client()
    make_auth(staff).login_as("trainer")
    assert 'data-flag="/feedback/new"' not in staff.get("/search", query_string={"q": "confirm identity"}).get_data(
        as_text=True
    )
    gaps_html = staff.get("/gaps").get_data(as_text=True)
    assert "searches found nothing, yet the full index finds this section" in gaps_html
    assert (
        "&#39;confirm identity&#39;: 4 of 5 searches found nothing" in gaps_html
    )  # and the agent's own, which found it
