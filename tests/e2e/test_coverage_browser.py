"""In a real Chromium, a partner manager acts on coverage as they would: from coverage (worst
first) down to a site, a team and its overdue agents, filters with the keyboard, exports the list
(their vendor only, with another vendor's agents on the roster), and reminds the agents now over a
real SMTP server (once: a second click skips them, saying why)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Agent

pytestmark = pytest.mark.browser

PEOPLE = [
    # employee id, vendor, site, team, team leader
    ("A1", "apex-cx", "bogota", "bogota-1", "Lead Gomez"),
    ("A2", "apex-cx", "bogota", "bogota-1", "Lead Ruiz"),
    ("A3", "apex-cx", "bogota", "bogota-2", "Lead Ruiz"),
    ("A4", "apex-cx", "krakow", "krakow-1", "Lead Nowak"),
    ("N1", "northwind-bpo", "manila", "manila-1", "Lead Reyes"),
    ("N2", "northwind-bpo", "bogota", "bogota-1", "Lead Gomez"),  # same site and team names, other vendor
]


@pytest.fixture
def app(make_app, settings, smtp):
    """The app of the live server, sending mail to the test's SMTP server."""
    return make_app(settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp[1]}))


@pytest.fixture
def world(engine, sop_dir, make_user, default_password):
    with session_scope(engine) as session:
        for emp, vendor, site, team, lead in PEOPLE:
            session.add(
                Agent(
                    employee_id=emp,
                    name=f"Agent {emp}",
                    email=f"{emp.lower()}@{vendor}.example",
                    tier="T1",
                    vendor=vendor,
                    site=site,
                    team=team,
                    language="en",
                    manager=lead,
                    start_date=date(2025, 6, 1),
                )
            )
    sop_dir.write("ATO-RECOVERY")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=10), by="test")
    manager = make_user("partner_manager", vendor="apex-cx")
    return {"email": manager.email, "password": default_password}


def sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email or employee id").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def agents_listed(page) -> list[str]:
    return sorted(
        cell.split(" · ")[0].strip()
        for cell in page.locator("table.overdue-table tbody td[data-label='Agent'] .muted").all_inner_texts()
    )


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_partner_manager_drills_down_filters_exports_and_reminds(
    browser, live_server, world, smtp, screenshot, viewport
):
    inbox, _ = smtp
    context = browser.new_context(base_url=live_server.url, viewport=viewport, accept_downloads=True)
    page = context.new_page()
    size = "phone" if viewport["width"] < 500 else "desktop"
    try:
        sign_in(page, world["email"], world["password"])
        page.get_by_role("link", name="Coverage", exact=True).click()
        page.wait_for_load_state()
        # vendor > site > team > agents
        page.get_by_role("link", name="bogota", exact=True).click()
        page.wait_for_load_state()
        assert "by=team" in page.url
        assert page.locator("nav.crumbs").inner_text().split("›")[-1].strip() == "bogota"
        page.get_by_role("link", name="bogota-1", exact=True).click()
        page.wait_for_load_state()
        assert "/coverage/overdue" in page.url and "team=bogota-1" in page.url
        assert agents_listed(page) == ["A1", "A2"]  # not northwind's N2 in a team of the same name
        screenshot(page, f"overdue-drilled-{size}")

        # Filter by team leader with the keyboard: the menu submits itself.
        page.goto("/coverage/overdue")
        assert agents_listed(page) == ["A1", "A2", "A3", "A4"]
        leader = page.get_by_label("Team leader")
        leader.focus()
        with page.expect_navigation():
            leader.select_option("Lead Ruiz")
        assert "team_leader=Lead+Ruiz" in page.url and agents_listed(page) == ["A2", "A3"]

        with page.expect_download() as download:
            page.get_by_role("link", name="Export CSV").click()
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
        assert sorted(r["employee_id"] for r in rows) == ["A2", "A3"]
        assert {r["vendor"] for r in rows} == {"apex-cx"} and rows[0]["sops"] == "ATO-RECOVERY v1.0"

        remind = page.get_by_role("button", name="Remind these 2 agents now")
        remind.focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_role("status").filter(has_text="Sent 2 reminders now.").count() == 1
        assert sorted(m["To"] for m in inbox.messages) == ["a2@apex-cx.example", "a3@apex-cx.example"]
        screenshot(page, f"overdue-reminded-{size}")

        with page.expect_navigation():
            page.get_by_role("button", name="Remind these 2 agents now").click()
        assert page.get_by_text("skipped 2 (2 already reminded in the last 24 hours)").count() == 1
        assert len(inbox.messages) == 2
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
