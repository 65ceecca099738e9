"""The agent's floor through the test client: what changed as a rendered redline, the next item
after acknowledging, Home's bulletin and next due, local times with UTC on hover, names instead of
codes, the admin's site settings page, and the quiz confirm step (no JavaScript here)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kb_app import roster_sites
from kb_app.acks.acknowledge import acknowledge, what_changed
from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Agent, RosterSite
from kb_app.models.quizzes import QuizAttempt
from tests.conftest import csrf_token_from
from tests.quizzes.factories import make_bank, write_bank
from tests.web.test_quizzes_web import drawn_of, form_for

V1 = """## Verify ownership {#verify}

Ask for **one** strong signal. See the [priority matrix](ato-recovery.md#steps).

/// tier | T2
Check the ASN list OLD-T2-ONLY.
///

## Steps {#steps}

| Signal | Strength |
| --- | --- |
| Device | strong |

1. Confirm identity.
2. Sign out every session.
"""
V2 = V1.replace("**one** strong signal", "**two** strong signals").replace("OLD-T2-ONLY", "NEW-T2-ONLY")
V2 = V2.replace("| Device | strong |", "| Device | strong |\n| Passkey | strong |") + "3. Reset the password.\n"


@pytest.fixture
def floor(engine, sop_dir, make_user):
    """ATO-RECOVERY v1 acknowledged 9 days ago, then v2 (major) published 8 days ago (overdue
    now); SOP-NEW published an hour ago; an open bulletin; a Manila agent with Manila's zone set."""
    user = make_user("agent", site="manila", language="tl")
    start = datetime.now(timezone.utc) - timedelta(days=9)
    sop_dir.write("ATO-RECOVERY", body=V1)
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=start, by="test")
        agent = session.get(Agent, user.agent_id)
        acknowledge(
            session, agent, "ATO-RECOVERY", what_changed(session, agent, "ATO-RECOVERY").content_hash, now=start
        )
        roster_sites.save_settings(
            session,
            [{"code": "manila", "name": "Metro Manila", "time_zone": "Asia/Manila"}],
            [{"code": "northwind-bpo", "name": "Northwind BPO"}],
            actor="test",
        )
    history = [
        {"version": "2.0", "date": "2026-03-01", "summary": "Two signals now."},
        {"version": "1.0", "date": "2026-01-01", "summary": "First."},
    ]
    sop_dir.write("ATO-RECOVERY", version="2.0", changelog=history, body=V2)
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=start + timedelta(days=1), by="test")
    sop_dir.write("SOP-NEW")
    sop_dir.write("BUL-MASS", kind="bulletin", title="Mass ATO wave", expires="2099-01-01")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(hours=1), by="test")
    return user


def test_what_changed_is_a_rendered_redline_with_a_section_summary(client, auth, floor):
    auth.login(floor.email)
    html = client.get("/reading-list/ATO-RECOVERY").get_data(as_text=True)
    summary = html[html.index('id="change-summary-title"') : html.index('id="change-1"')]
    assert "<strong>2</strong> sections changed" in summary and "<strong>0</strong> added" in summary
    assert 'href="#change-1">Verify ownership</a>' in summary
    changes = html[html.index('id="change-1"') : html.index('id="end-of-changes"')]
    assert re.search(r'<ins class="redline-ins"><span class="visually-hidden">Inserted: </span>two', changes)
    assert re.search(r'<del class="redline-del"><span class="visually-hidden">Deleted: </span>one', changes)
    assert "<table>" in changes and "Passkey" in changes and "<strong>" in changes
    for markdown in ("**", "{#verify}", "](", "| --- |", "///"):
        assert markdown not in changes, markdown
    assert "T2-ONLY" not in html and "ASN" not in html  # another tier's block, not even as deleted text


def test_acknowledging_opens_the_next_item_of_the_reading_list(client, auth, floor):
    auth.login(floor.email)
    listing = client.get("/reading-list").get_data(as_text=True)
    order = re.findall(r'href="/reading-list/([A-Z-]+)"', listing)
    assert order == ["BUL-MASS", "ATO-RECOVERY", "SOP-NEW"]  # the bulletin, the overdue item, then by due date
    assert '<span class="tag major-tag">major change</span>' in listing
    html = client.get("/reading-list/BUL-MASS").get_data(as_text=True)
    form = re.search(r'name="content_hash" value="([0-9a-f]+)"', html).group(1)
    response = client.post(
        "/reading-list/BUL-MASS/acknowledge", data={"csrf_token": csrf_token_from(html), "content_hash": form}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/reading-list/ATO-RECOVERY")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Acknowledged BUL-MASS v1.0" in page and "Next on your reading list: ATO-RECOVERY." in page


def test_home_shows_the_open_bulletin_and_never_a_past_date_as_next_due(client, auth, floor):
    auth.login(floor.email)
    html = client.get("/").get_data(as_text=True)
    assert "open bulletin</span> Mass ATO wave" in html and "Read the bulletin" in html
    next_due = re.search(r'<p class="small" id="next-due">(.*?)</p>', html, re.S).group(1)
    assert "ATO-RECOVERY" not in next_due  # overdue: it is not "next"
    when = re.search(r'<time datetime="([^"]+)"', next_due).group(1)
    assert datetime.fromisoformat(when) > datetime.now(timezone.utc)
    assert "overdue since" in html


def test_agents_see_their_sites_local_time_with_utc_on_hover_and_names_not_codes(client, auth, floor):
    auth.login(floor.email)
    listing = client.get("/reading-list").get_data(as_text=True)
    stamp = re.search(r'<time datetime="([^"]+)" title="([^"]+) UTC">([^<]+) PST</time>', listing)
    assert stamp, listing
    instant = datetime.fromisoformat(stamp.group(1))
    assert stamp.group(2) == instant.strftime("%Y-%m-%d %H:%M")
    assert stamp.group(3) == (instant + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    home = client.get("/").get_data(as_text=True)
    assert "<dd>Northwind BPO</dd>" in home and "Metro Manila" in home and "<dd>Tagalog</dd>" in home


def test_staff_see_the_default_zone(client, auth, floor, make_user):
    auth.login_as("admin")
    html = client.get("/admin/sites").get_data(as_text=True)
    assert "agents see UTC time" in html


def test_admin_edits_site_settings_and_a_bad_time_zone_names_its_row(client, auth, floor, engine, make_agent):
    make_agent(site="bogota", vendor="apex-cx")
    auth.login_as("admin")
    page = client.get("/admin/sites").get_data(as_text=True)
    assert 'value="Metro Manila"' in page and 'name="site-1-code" value="bogota"' in page
    token = csrf_token_from(page)
    bad = {
        "csrf_token": token,
        "site-0-code": "manila",
        "site-0-name": "Manila",
        "site-0-time_zone": "Asia/Manilla",
        "site-1-code": "bogota",
        "site-1-name": "Bogotá",
        "site-1-time_zone": "America/Bogota",
    }
    response = client.post("/admin/sites", data=bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Nothing was saved" in html
    assert "site row 1 (manila): time_zone &#39;Asia/Manilla&#39; is not an IANA time zone" in html
    with session_scope(engine) as session:
        assert (
            session.get(RosterSite, "manila").time_zone == "Asia/Manila" and session.get(RosterSite, "bogota") is None
        )
    response = client.post("/admin/sites", data={**bad, "site-0-time_zone": "Asia/Manila"}, follow_redirects=True)
    assert "Saved 2 sites and 0 vendors." in response.get_data(as_text=True)
    with session_scope(engine) as session:
        assert session.get(RosterSite, "bogota").time_zone == "America/Bogota"
        assert session.get(RosterSite, "manila").name == "Manila"


@pytest.mark.parametrize("role", ["agent", "partner_manager", "trainer"])
def test_only_admins_edit_site_settings(client, auth, role):
    auth.login_as(role)
    assert client.get("/admin/sites").status_code == 403
    assert client.post("/admin/sites", data={}).status_code in (400, 403)


# --- the quiz confirm step without JavaScript ----------------------------------------------------


@pytest.fixture
def quiz(engine, settings, sop_dir):
    sop_dir.write("ATO-RECOVERY", version="1.0")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=1), by="test")
    bank = make_bank("cert-t1", cooldown_hours=24)
    write_bank(settings.quiz_dir, bank)
    return bank


def started(client):
    page = client.get("/quizzes").get_data(as_text=True)
    response = client.post("/quizzes/cert-t1/start", data={"csrf_token": csrf_token_from(page)})
    public_id = response.headers["Location"].rstrip("/").split("/")[-1]
    return public_id, client.get(f"/quizzes/attempts/{public_id}").get_data(as_text=True)


def attempt_status(engine, public_id):
    with session_scope(engine) as session:
        return session.scalar(select(QuizAttempt.status).where(QuizAttempt.public_id == public_id))


def test_the_review_step_shows_the_summary_and_keeps_the_answers(client, auth, engine, quiz):
    auth.login_as("agent")
    public_id, html = started(client)
    assert 'name="step" value="review">Submit answers</button>' in html and "<dialog" in html
    drawn = drawn_of(engine, public_id)
    full = form_for(quiz, drawn)
    keys = [q.key for q in drawn.questions]
    answered = {k: v for k, v in full.items() if k.split(".")[0] in keys[:2]}
    form = {"csrf_token": csrf_token_from(html), **answered, "flagged": keys[1], "step": "review"}
    response = client.post(f"/quizzes/attempts/{public_id}", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Check before you submit" in page
    total = len(keys)
    assert f"<strong>2 of {total}</strong> answered" in page and f"<strong>{total - 2}</strong> unanswered" in page
    assert "<strong>1</strong> flagged for review" in page and f'href="#{keys[1]}">Question 2</a>' in page
    assert f'value="{keys[1]}" checked' in page  # the flag is kept
    assert attempt_status(engine, public_id) == "open"
    response = client.post(f"/quizzes/attempts/{public_id}", data={**form, "step": "submit"})
    assert response.status_code == 303 and attempt_status(engine, public_id) == "submitted"


def test_an_empty_submit_is_refused_on_the_page_and_in_the_api(client, auth, engine, quiz, make_token):
    user = auth.login_as("agent")
    public_id, html = started(client)
    response = client.post(
        f"/quizzes/attempts/{public_id}", data={"csrf_token": csrf_token_from(html), "step": "submit"}
    )
    page = response.get_data(as_text=True)
    assert (
        response.status_code == 422 and "Nothing was submitted" in page and "You have not answered any question" in page
    )
    assert attempt_status(engine, public_id) == "open"
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    api = client.post(f"/api/v1/quiz-attempts/{public_id}/submit", json={"answers": {}}, headers=headers)
    assert api.status_code == 422 and api.get_json()["error"]["code"] == "empty_submission"
    assert attempt_status(engine, public_id) == "open"
    # No cool-down started: the quizzes page still offers to resume the same attempt.
    assert "Resume" in client.get("/quizzes").get_data(as_text=True)


def test_the_api_gives_the_same_rendered_redline(client, auth, floor, make_token):
    headers = {"Authorization": f"Bearer {make_token(floor)}"}
    body = client.get("/api/v1/sops/ATO-RECOVERY/changes", headers=headers).get_json()
    rendered = {s["anchor"]: s for s in body["rendered"]}
    assert rendered["verify"]["status"] == "changed" and rendered["verify"]["words_inserted"] == 2
    assert '<ins class="redline-ins">' in rendered["verify"]["html"] and "T2-ONLY" not in str(body)
    assert body["sections"]  # the line view stays
    first_read = client.get("/api/v1/sops/SOP-NEW/changes", headers=headers).get_json()
    assert first_read["rendered"] is None and first_read["text"]
