"""In a real Chromium: an agent reads what changed and acknowledges; the banner changes; a
trainer sees coverage move; a partner manager's export holds only their vendor."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.acks.publishing import publish

pytestmark = pytest.mark.browser

OLD_STEPS = "\n".join(f"{n}. Check signal number {n} against the device history." for n in range(1, 30))
NEW_STEPS = "\n".join(f"{n}. Check signal number {n} against the device and login history." for n in range(1, 30))
V1 = f"## Verify ownership {{#verify}}\n\nOne strong signal is enough.\n\n## Steps {{#steps}}\n\n{OLD_STEPS}\n"
V2 = f"## Verify ownership {{#verify}}\n\nTwo strong signals are needed now.\n\n## Steps {{#steps}}\n\n{NEW_STEPS}\n"
HISTORY = [
    {"version": "2.0", "date": "2026-03-01", "summary": "Two signals now."},
    {"version": "1.0", "date": "2026-01-01", "summary": "First."},
]


def sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email or employee id").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.fixture
def world(engine, sop_dir, make_agent, make_user, default_password):
    """v1 published and acknowledged by the agent, then v2 published; two vendors on the roster."""
    agent_user = make_user("agent")
    for vendor in ("northwind-bpo", "apex-cx", "apex-cx"):
        make_agent(vendor=vendor, site="bogota" if vendor == "apex-cx" else "manila")
    trainer = make_user("trainer")
    manager = make_user("partner_manager", vendor="apex-cx")
    start = datetime.now(timezone.utc) - timedelta(days=3)
    sop_dir.write("ATO-RECOVERY", body=V1)
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=start, by="test")
    from kb_app.acks.acknowledge import acknowledge, what_changed
    from kb_app.models import Agent

    with session_scope(engine) as session:
        agent = session.get(Agent, agent_user.agent_id)
        acknowledge(
            session,
            agent,
            "ATO-RECOVERY",
            what_changed(session, agent, "ATO-RECOVERY").content_hash,
            now=start + timedelta(hours=1),
        )
    sop_dir.write("ATO-RECOVERY", version="2.0", changelog=HISTORY, body=V2)
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=start + timedelta(days=1), by="test")
    return {"agent": agent_user, "trainer": trainer, "manager": manager, "password": default_password}


def banner(page) -> dict:
    return page.request.get("/api/v1/me/banner?path=/sop/procedures/ato-recovery/").json()


def test_agent_reads_the_diff_acknowledges_and_the_trainer_sees_coverage_move(browser, live_server, world, screenshot):
    trainer_ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    trainer = trainer_ctx.new_page()
    sign_in(trainer, world["trainer"].email, world["password"])
    trainer.goto("/coverage")
    row = trainer.locator("tr", has=trainer.locator("a", has_text="ATO-RECOVERY"))
    assert row.locator("td").nth(2).inner_text() == "0.0%"

    agent_ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    page = agent_ctx.new_page()
    sign_in(page, world["agent"].email, world["password"])
    assert banner(page)["page"]["state"] == "action_required"
    page.goto("/reading-list")
    page.get_by_role("link", name="Read", exact=True).click()
    page.wait_for_load_state()
    assert "What changed since v1.0" in page.content()
    changed = page.locator(".redline-section--changed")
    assert changed.count() == 2
    inserted = " ".join(changed.first.locator("ins").all_inner_texts())
    assert "Two" in inserted and "needed now" in inserted  # the rendered redline, words marked
    button = page.locator("#ack-button")
    assert button.is_disabled(), "the button must wait until the changes were scrolled through"
    screenshot(page, "acks-what-changed")
    page.locator("#end-of-changes").scroll_into_view_if_needed()
    expect(button).to_be_enabled()
    button.click()
    page.wait_for_load_state()
    assert "Acknowledged ATO-RECOVERY v2.0" in page.content()
    assert banner(page)["page"]["state"] == "acknowledged"
    assert banner(page)["text"].startswith("You acknowledged v2.0")

    trainer.reload()
    row = trainer.locator("tr", has=trainer.locator("a", has_text="ATO-RECOVERY"))
    assert row.locator("td").nth(2).inner_text() != "0.0%"
    assert row.locator("td").nth(3).inner_text() == "1"  # on time
    screenshot(trainer, "acks-coverage-after")
    trainer_ctx.close()
    agent_ctx.close()


def test_partner_manager_export_holds_only_their_vendor(browser, live_server, world):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    sign_in(page, world["manager"].email, world["password"])
    page.goto("/coverage")
    assert "northwind-bpo" not in page.content()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    rows = list(csv.DictReader(io.StringIO(download_info.value.path().read_text())))
    assert rows and {r["vendor"] for r in rows} == {"apex-cx"}
    context.close()
