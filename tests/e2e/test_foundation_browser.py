"""The demo logins in a real Chromium: sign in, read the SOP site for your tier, sign out."""

from __future__ import annotations

import re

import pytest

from kb_app import db, demo

pytestmark = pytest.mark.browser

LOGINS = {
    login["role"] + ("-" + login["employee_id"] if login.get("employee_id") else ""): login
    for login in demo.load_settings()["logins"]
}
AUDIENCE = {"agent-NW-10001": "T1", "agent-AS-90001": "T2", "partner_manager": "T1", "trainer": "T2", "admin": "T2"}


@pytest.fixture
def demo_data(engine):
    with db.session_scope(engine) as session:
        demo.seed(session, actor="test")


def real_errors(page) -> list[str]:
    """Console errors other than the 404s a test asks for on purpose (and /favicon.ico)."""
    return [e for e in page.console_errors if "status of 404" not in e]


def sign_in(page, identifier: str, password: str) -> None:
    page.goto("/")
    assert page.url.endswith("/login?next=%2F")
    page.get_by_label("Email or employee id").fill(identifier)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("key", list(AUDIENCE))
def test_demo_login_reads_its_own_site_and_signs_out(page, live_server, demo_data, screenshot, t2_only_marker, key):
    login = LOGINS[key]
    sign_in(page, login["email"], login["password"])
    assert page.url == live_server.url + "/"
    assert page.locator(".kb-role").inner_text().lower() == login["role"].replace("_", " ")
    screenshot(page, f"home-{key}")

    page.get_by_role("link", name="SOPs", exact=True).click()
    page.wait_for_load_state()
    audience = AUDIENCE[key]
    assert page.locator("h1").inner_text() == f"Account Security SOPs ({audience})"
    page.goto("/sop/procedures/t2-infra/")
    if audience == "T1":
        assert "Page not found" in page.content()
        assert t2_only_marker not in page.content()
    else:
        assert t2_only_marker in page.content()

    page.goto("/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert "/login" in page.url
    assert "You are signed out." in page.content()
    page.goto("/sop/")
    assert "/login" in page.url
    assert real_errors(page) == []


def test_sign_in_page_and_a_wrong_password(page, live_server, demo_data, screenshot):
    page.goto("/login")
    screenshot(page, "login")
    sign_in(page, "admin@demo.example", "not-the-password")
    assert "That email or password is not right" in page.content()
    screenshot(page, "login-failed")
    assert real_errors(page) == []


def test_partner_manager_roster_is_their_vendor_only(page, live_server, demo_data, screenshot):
    sign_in(page, "pm.northwind@demo.example", LOGINS["partner_manager"]["password"])
    page.get_by_role("link", name="Roster", exact=True).click()
    page.wait_for_load_state()
    assert "Roster · northwind-bpo" in page.locator("h1").inner_text()
    assert page.locator("#f-vendor").count() == 0
    text = page.locator("table").inner_text()
    assert "apex-cx" not in text and "lumen-support" not in text
    screenshot(page, "roster-partner-manager")
    page.goto("/roster?vendor=apex-cx")
    assert "Not for your role" in page.content()


def test_trainer_filters_the_roster_with_progressive_select(page, live_server, demo_data, screenshot):
    sign_in(page, "trainer@demo.example", LOGINS["trainer"]["password"])
    page.goto("/roster")
    with page.expect_navigation():
        page.select_option("#f-vendor", "apex-cx")
    assert "vendor=apex-cx" in page.url
    count = int(re.search(r"(\d+) agents", page.content()).group(1))
    assert 50 < count < 150
    screenshot(page, "roster-trainer-apex")
    assert real_errors(page) == []


def test_admin_audit_log_shows_the_sign_ins(page, live_server, demo_data, screenshot):
    sign_in(page, "admin@demo.example", "wrong-password-first")
    sign_in(page, "admin@demo.example", LOGINS["admin"]["password"])
    page.get_by_role("link", name="Audit log", exact=True).click()
    page.wait_for_load_state()
    table = page.locator("table").inner_text()
    assert "login.failure" in table and "login.success" in table and "roster.import" in table
    screenshot(page, "admin-audit")
    page.get_by_role("link", name="Users", exact=True).click()
    screenshot(page, "admin-users")
    page.get_by_role("link", name="Password", exact=True).click()
    screenshot(page, "password-change")
    page.goto("/no-such-page")
    screenshot(page, "error-404")
    assert real_errors(page) == []


def test_pages_work_without_javascript(browser, live_server, demo_data):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "trainer@demo.example", LOGINS["trainer"]["password"])
        page.goto("/roster")
        page.select_option("#f-site", "krakow")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_load_state()
        assert "site=krakow" in page.url
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        assert "/login" in page.url
    finally:
        context.close()
