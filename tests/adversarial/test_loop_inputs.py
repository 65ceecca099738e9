"""Hostile input to the loop's routes: Tier 2 blocks inside a shared page, another vendor's ids,
markup and control characters in comments, malformed bodies. Each refused or scoped; nothing
half-written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models.improvement import FeedbackFlag, ImprovementAction

MIXED = """## Verify {#verify}

Two signals.

/// tier | T2

### Network checks {#network-checks}

Check the ASN list.
///
"""
MARKUP = '"><img src=x onerror=alert(1)><script>document.title="owned"</script>'


@pytest.fixture
def published(engine, sop_dir):
    sop_dir.write("ATO-RECOVERY", body=MIXED)
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=1), by="test")


def _post(client, token, **body):
    data = {"sop_id": "ATO-RECOVERY", "anchor": "verify", "kind": "wrong", "comment": "x", **body}
    return client.post("/api/v1/feedback", json=data, headers={"Authorization": f"Bearer {token}"})


def _flags(engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(FeedbackFlag))


def test_a_tier1_agent_cannot_flag_a_tier2_block_of_a_shared_page(client, make_user, make_token, published, engine):
    t1 = make_token(make_user("agent", tier="T1"))
    t2 = make_token(make_user("agent", tier="T2", vendor="in-house"))
    hidden = _post(client, t1, anchor="network-checks")
    unknown = _post(client, t1, anchor="no-such-heading")
    assert hidden.status_code == unknown.status_code == 404
    assert "Network checks" not in hidden.get_data(as_text=True)
    assert _post(client, t2, anchor="network-checks").status_code == 201
    assert _flags(engine) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"comment": "bad\x00nul"},
        {"comment": "\ud800"},
        {"comment": ""},
        {"comment": ["list"]},
        {"kind": "<script>"},
        {"anchor": "../../etc/passwd"},
        {"anchor": "a" * 201},
        {"sop_id": "ATO RECOVERY; DROP TABLE feedback_flags"},
        {"version": "1.0\n"},
        {"extra": "field"},
    ],
)
def test_malformed_flags_are_400_naming_the_field_and_write_nothing(
    client, make_user, make_token, published, engine, body
):
    response = _post(client, make_token(make_user("agent")), **body)
    assert response.status_code in (400, 404, 422), response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    assert _flags(engine) == 0


def test_markup_in_comments_and_answers_is_text_on_every_page(
    client, auth, make_user, make_token, published, engine, make_app, make_auth
):
    agent = make_user("agent")
    created = _post(client, make_token(agent), comment=MARKUP)
    assert created.status_code == 201
    flag_id = created.get_json()["id"]
    trainer = make_auth(client)
    trainer.login_as("trainer")
    client.post(
        f"/feedback/{flag_id}/triage", data={"decision": "answer", "answer": MARKUP, "csrf_token": trainer.csrf_token()}
    )
    made = client.post(
        "/actions",
        data={
            "title": MARKUP[:200],
            "owner_email": "o@example.com",
            "team": MARKUP[:100],
            "due_date": "2030-01-01",
            "action_type": "sop",
            "sections": "ATO-RECOVERY#verify",
            "notes": MARKUP,
            "flag_ids": str(flag_id),
            "csrf_token": trainer.csrf_token(),
        },
    )
    assert made.status_code == 303
    pages = ["/feedback", "/gaps", "/actions", made.headers["Location"]]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        assert "<script>document.title" not in html and "<img src=x" not in html, path
    agent_client = make_app().test_client()
    make_auth(agent_client).login(agent.email)
    mine = agent_client.get("/feedback/mine").get_data(as_text=True)
    assert "&lt;script&gt;" in mine and "<script>document.title" not in mine


def test_a_forged_form_cannot_link_another_vendors_flag_or_a_missing_one(
    client, auth, make_user, make_token, published, engine
):
    apex = make_token(make_user("agent", vendor="apex-cx", site="cebu"))
    apex_flag = _post(client, apex).get_json()["id"]
    auth.login_as("trainer")
    base = {
        "title": "x",
        "owner_email": "o@example.com",
        "team": "Training",
        "due_date": "2030-01-01",
        "action_type": "sop",
        "sections": "ATO-RECOVERY#verify",
        "vendor": "northwind-bpo",
    }
    for flags in (str(apex_flag), "999999", f"{apex_flag} 999999"):
        response = client.post("/actions", data={**base, "flag_ids": flags, "csrf_token": auth.csrf_token()})
        assert response.status_code == 422, flags
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ImprovementAction)) == 0
        assert session.get(FeedbackFlag, apex_flag).status == "open"
    # Without the CSRF token a page post changes nothing either.
    forged = client.post("/actions", data={**base, "vendor": ""})
    assert forged.status_code == 400


def test_a_partner_manager_cannot_reach_another_vendors_flag_by_id(client, auth, make_user, make_token, published):
    apex_flag = _post(
        client, make_token(make_user("agent", vendor="apex-cx", site="cebu")), comment="apex only"
    ).get_json()["id"]
    auth.login_as("partner_manager", vendor="northwind-bpo")
    assert "apex only" not in client.get("/feedback").get_data(as_text=True)
    assert "apex only" not in client.get("/feedback?status=open&sop=ATO-RECOVERY").get_data(as_text=True)
    response = client.post(
        f"/feedback/{apex_flag}/triage", data={"decision": "dismiss", "csrf_token": auth.csrf_token()}
    )
    assert response.status_code == 403
