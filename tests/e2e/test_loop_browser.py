"""In a real Chromium, on a real MkDocs site: an agent flags a step from the SOP page, a trainer
turns the flag into an action from the feedback page, a fixed version is published, and three
days later the action shows before/after figures. Every page is screenshot at desktop and phone
size and checked with axe-core (no serious or critical violation)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from fixtures.axe import describe, serious_violations
from improvement.loop_data import add_agents, add_answers
from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Agent, PublishedVersion
from kb_app.models.improvement import FeedbackFlag, ImprovementAction
from kb_app.sites import build_sites
from kb_app.web import improvement as improvement_web
from tests.e2e.test_acks_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

V1 = """## Purpose {#purpose}

Use this procedure when a customer reports that someone else took over their account.

## Steps {#steps}

1. Confirm the customer's identity.
2. Secure the account.
"""
V2 = V1.replace("2. Secure the account.", "2. Sign out every session.\n3. Secure the account.")
COMMENT = "<b>Missing</b>: sign out every session before securing the account"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _look(page, screenshot, name: str, include: list[str] | None = None) -> None:
    """Screenshots at both sizes, and no serious or critical axe-core violation (in `include`
    only, when given)."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        screenshot(page, f"loop-{name}-{label}")
    page.set_viewport_size(DESKTOP)
    found = serious_violations(page, include=include)
    assert not found, f"{name}:\n" + describe(found)


def test_a_flag_becomes_an_action_and_the_fix_shows_before_and_after(
    browser, live_server, engine, sop_dir, settings, make_user, default_password, screenshot, monkeypatch
):
    now = datetime.now(timezone.utc)
    sop_dir.write("ATO-RECOVERY", body=V1, title="Hacked account recovery")
    agent_user = make_user("agent", vendor="northwind-bpo", site="manila")
    trainer = make_user("trainer")
    with session_scope(engine) as session:
        roster = add_agents(session, 20)
        publish(session, load_catalog(sop_dir.root), now=now - timedelta(days=6), by="test")
        # Before the fix, agents mostly miss the question on the steps.
        add_answers(
            session,
            roster,
            bank_id="ato-cert",
            source="ATO-RECOVERY#steps",
            question_id="secure-order",
            at=now - timedelta(days=2),
            right=[True] * 5 + [False] * 15,
        )
        roster_ids = [a.id for a in roster]
    build_sites(sop_dir.root, settings.site_dir, ["T1"], now=now - timedelta(days=6))

    # 1. The agent flags the step from the SOP page.
    agent = browser.new_context(base_url=live_server.url, viewport=DESKTOP).new_page()
    errors: list[str] = []
    agent.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(agent, agent_user.email, default_password)
    agent.goto("/sop/procedures/ato-recovery/")
    toggle = agent.get_by_role("button", name="Flag this section: Steps")
    expect(toggle).to_be_visible()
    toggle.click()
    form = agent.locator(".kb-flag__form:visible")
    form.get_by_label("Missing a step").check()
    form.get_by_label("What should it say?").fill(COMMENT)
    form.get_by_role("button", name="Send").click()
    expect(form.locator(".kb-flag__status")).to_contain_text("Thank you")
    # On the SOP site page, the flag controls are this feature's part (the theme is checked elsewhere).
    _look(agent, screenshot, "site-flag", include=[".kb-flag"])
    assert errors == []
    agent.goto("/feedback/mine")
    expect(agent.locator("table")).to_contain_text(COMMENT)
    _look(agent, screenshot, "my-feedback-open")

    # 2. The trainer sees it on the gaps and feedback pages and opens an action from it.
    staff = browser.new_context(base_url=live_server.url, viewport=DESKTOP).new_page()
    sign_in(staff, trainer.email, default_password)
    staff.goto("/gaps")
    expect(staff.locator(".loop-gap").first).to_contain_text("flag")
    _look(staff, screenshot, "gaps")
    staff.goto("/feedback")
    row = staff.locator("tr", has_text="sign out every session")
    expect(row).to_contain_text("Missing a step")
    assert "<b>Missing</b>" in row.inner_text()  # shown as typed, as text
    _look(staff, screenshot, "feedback-triage")
    row.get_by_role("link", name="New action…").click()
    expect(staff.get_by_label("SOP sections")).to_have_value("ATO-RECOVERY#steps")
    staff.get_by_label("Title").fill("Add the sign-out step to ATO recovery")
    _look(staff, screenshot, "action-form")
    staff.get_by_role("button", name="Open the action").click()
    expect(staff.locator("h1")).to_contain_text("Add the sign-out step")
    expect(staff.locator("#outcome").locator("..")).to_contain_text("Not measured yet")
    staff.get_by_label("New status").select_option("done")
    staff.get_by_label("Note").fill("v1.1 adds the step")
    staff.get_by_role("button", name="Save").click()
    expect(staff.locator(".stat").first).to_have_text("Done")
    with session_scope(engine) as session:
        flag = session.scalars(select(FeedbackFlag)).one()
        action = session.scalars(select(ImprovementAction)).one()
        assert flag.status == "accepted" and flag.action_id == action.id
        action_id = action.id

    # 3. The fixed version is published; agents answer better after it.
    sop_dir.write(
        "ATO-RECOVERY",
        body=V2,
        title="Hacked account recovery",
        version="1.1",
        changelog=[
            {"version": "1.1", "date": "2026-12-01", "summary": "Sign out every session first."},
            {"version": "1.0", "date": "2026-01-01", "summary": "First version."},
        ],
    )
    # The trainer publishes it from the Publish page (index and sites rebuilt before agents are asked).
    staff.goto("/publish")
    expect(staff.locator("main")).to_contain_text("ATO-RECOVERY")
    staff.get_by_role("button", name="Publish").click()
    expect(staff.locator("body")).to_contain_text("Published 1 versions", timeout=120_000)
    with session_scope(engine) as session:
        fixed = session.scalars(
            select(PublishedVersion).where(PublishedVersion.sop_id == "ATO-RECOVERY", PublishedVersion.version == "1.1")
        ).one()
        assert fixed.published_by == trainer.email
        published_at = fixed.published_at.replace(tzinfo=fixed.published_at.tzinfo or timezone.utc)
    with session_scope(engine) as session:
        agents = list(session.scalars(select(Agent).where(Agent.id.in_(roster_ids))))
        add_answers(
            session,
            agents,
            bank_id="ato-cert",
            source="ATO-RECOVERY#steps",
            question_id="secure-order",
            at=published_at + timedelta(days=1),
            right=[True] * 16 + [False] * 4,
        )

    # 4. Three days later the action shows before and after on the same measures.
    monkeypatch.setattr(improvement_web, "_now", lambda: published_at + timedelta(days=3))
    staff.goto(f"/actions/{action_id}")
    table = staff.locator("table.loop-outcome")
    facility = table.locator("tr", has_text="Facility of the linked questions")
    expect(facility).to_contain_text("0.25")
    expect(facility).to_contain_text("0.80")
    expect(facility).to_contain_text("better")
    expect(table.locator("tr", has_text="Feedback flags on the sections")).to_contain_text("too few to compare")
    expect(staff.locator("#outcome").locator("..")).to_contain_text("ATO-RECOVERY v1.1")
    _look(staff, screenshot, "action-outcome")
    staff.goto("/actions")
    _look(staff, screenshot, "actions")

    agent.goto("/feedback/mine")
    expect(agent.locator("table")).to_contain_text("Taken into an action plan.")
    staff.context.close()
    agent.context.close()
