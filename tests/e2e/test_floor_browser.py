"""The agent's floor in a real Chromium, driven with the keyboard, at 1280x900 and 390x844, with
axe-core on every page changed here: Home with the open bulletin, the reading list in its order,
what changed as a rendered redline and the next item after acknowledging; local times with UTC on
hover; the admin's site settings; the quiz confirm step (dialog with JavaScript, a page without)
and an empty submission refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from fixtures.axe import serious_violations
from kb_app import roster_sites
from kb_app.acks.acknowledge import acknowledge, what_changed
from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Agent
from tests.conftest import DEFAULT_PASSWORD
from tests.e2e.test_quiz_browser import answer_on_page, attempt_in_view
from tests.quizzes.factories import make_bank, write_bank
from tests.web.test_floor_web import V1, V2

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def world(engine, settings, sop_dir, make_user):
    """A Manila agent who acknowledged ATO-RECOVERY v1 nine days ago; v2 (major) is overdue; an
    open 4-hour bulletin and a new SOP were published an hour ago; a certification bank."""
    agent = make_user("agent", email="maria@example.com", site="manila", language="tl")
    admin = make_user("admin", email="admin@example.com")
    start = datetime.now(timezone.utc) - timedelta(days=9)
    sop_dir.write("ATO-RECOVERY", body=V1)
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=start, by="test")
        row = session.get(Agent, agent.agent_id)
        acknowledge(session, row, "ATO-RECOVERY", what_changed(session, row, "ATO-RECOVERY").content_hash, now=start)
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
    bank = make_bank("cert-t1", title="Account Security certification", cooldown_hours=24)
    write_bank(settings.quiz_dir, bank)
    return {"agent": agent, "admin": admin, "bank": bank}


def context_page(browser, live_server, viewport, **options):
    # bypass_csp: axe-core is injected as an inline script, which the app's CSP rightly refuses.
    context = browser.new_context(base_url=live_server.url, viewport=viewport, bypass_csp=True, **options)
    context.scripts_disabled = options.get("java_script_enabled") is False
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    return context, page


def sign_in_with_keyboard(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email or employee id").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


# The pages' own content; the shared top bar (role chip contrast and the like) is checked by the
# app-wide accessibility tests.
CONTENT = "main#content"


def check_page(page, name: str, screenshot, width: int) -> None:
    """Looked at, fits the screen, and axe finds nothing serious or critical in the content."""
    screenshot(page, name)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{name}: the page is {scroll_width}px wide on a {width}px screen"
    if page.context.scripts_disabled:
        # axe needs JavaScript: check the same HTML, as served, in a page that runs scripts.
        checker = page.context.browser.new_context(base_url=page.url, viewport=page.viewport_size, bypass_csp=True)
        other = checker.new_page()
        other.goto(page.url.split("/quizzes")[0] + "/healthz")
        other.set_content(page.content())
        found = serious_violations(other, CONTENT)
        checker.close()
    else:
        found = serious_violations(page, CONTENT)
    assert found == [], (name, found)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_home_reading_list_redline_and_the_next_item(browser, live_server, world, screenshot, viewport):
    context, page = context_page(browser, live_server, viewport)
    suffix = "desktop" if viewport is DESKTOP else "phone"
    sign_in_with_keyboard(page, world["agent"].email)

    # Home: the open bulletin on top, overdue said as overdue, "Next due" in the future.
    bulletin = page.locator(".home-bulletin")
    expect(bulletin).to_contain_text("Mass ATO wave")
    expect(page.locator("#next-due")).not_to_contain_text("ATO-RECOVERY")
    expect(page.get_by_text("overdue since")).to_be_visible()
    stamp = page.locator("#next-due time")
    assert stamp.get_attribute("title").endswith(" UTC") and stamp.inner_text().endswith(" PST")
    expect(page.locator(".facts")).to_contain_text("Northwind BPO")
    expect(page.locator(".facts")).to_contain_text("Tagalog")
    check_page(page, f"floor-home-{suffix}", screenshot, viewport["width"])

    # The reading list: bulletin, then the overdue major change, then by due date.
    page.goto("/reading-list")
    rows = page.locator("tbody tr")
    expect(rows.nth(0)).to_contain_text("BUL-MASS")
    expect(rows.nth(1)).to_contain_text("ATO-RECOVERY")
    expect(rows.nth(1).locator(".major-tag")).to_have_text("major change")
    check_page(page, f"floor-reading-list-{suffix}", screenshot, viewport["width"])

    # Read the bulletin from Home with the keyboard, acknowledge it: the next item opens.
    page.goto("/")
    bulletin.get_by_role("link", name="Read the bulletin").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#end-of-changes").scroll_into_view_if_needed()
    ack = page.locator("#ack-button")
    expect(ack).to_be_enabled()
    ack.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/reading-list/ATO-RECOVERY")
    expect(page.get_by_text("Next on your reading list: ATO-RECOVERY.")).to_be_visible()

    # What changed: a summary of sections, then the redline of the rendered text.
    summary = page.locator(".change-summary")
    expect(summary).to_contain_text("2 sections changed")
    inserted = page.locator("ins.redline-ins").first
    expect(inserted).to_be_visible()
    assert "underline" in inserted.evaluate("e => getComputedStyle(e).textDecorationLine")
    deleted = page.locator("del.redline-del").first
    assert "line-through" in deleted.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert page.locator(".redline table").count() == 1 and page.locator(".redline ol li").count() == 3
    text = page.locator("#changes").inner_text()
    assert "**" not in text and "{#" not in text and "T2-ONLY" not in page.content()
    summary.get_by_role("link", name="Steps").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#change-2"
    page.evaluate("window.scrollTo(0, 0)")
    check_page(page, f"floor-what-changed-{suffix}", screenshot, viewport["width"])
    assert not page.console_errors
    context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_admin_sets_a_sites_time_zone_and_a_bad_one_is_named(browser, live_server, world, screenshot, viewport):
    context, page = context_page(browser, live_server, viewport)
    suffix = "desktop" if viewport is DESKTOP else "phone"
    sign_in_with_keyboard(page, world["admin"].email)
    page.goto("/admin/sites")
    zone = page.get_by_label("Site row 1: time zone")
    expect(zone).to_have_value("Asia/Manila")
    check_page(page, f"floor-admin-sites-{suffix}", screenshot, viewport["width"])
    zone.fill("Asia/Manilla")
    with page.expect_navigation():
        zone.press("Enter")
    expect(page.locator("#site-problems")).to_contain_text("site row 1 (manila): time_zone 'Asia/Manilla'")
    check_page(page, f"floor-admin-sites-error-{suffix}", screenshot, viewport["width"])
    page.get_by_label("Site row 1: time zone").fill("Asia/Tokyo")
    with page.expect_navigation():
        page.get_by_label("Site row 1: time zone").press("Enter")
    expect(page.get_by_text("Saved 1 sites and 1 vendors.")).to_be_visible()
    expect(page.get_by_label("Site row 1: time zone")).to_have_value("Asia/Tokyo")
    context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_quiz_confirm_dialog_with_the_keyboard(browser, live_server, engine, world, screenshot, viewport):
    context, page = context_page(browser, live_server, viewport)
    suffix = "desktop" if viewport is DESKTOP else "phone"
    sign_in_with_keyboard(page, world["agent"].email)
    page.goto("/quizzes")
    with page.expect_navigation():
        page.get_by_role("button", name="Take the quiz: Account Security certification").press("Enter")

    # Nothing answered: the dialog says so and offers no submit.
    submit = page.get_by_role("button", name="Submit answers")
    submit.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("No question answered yet")
    assert dialog.get_by_role("button", name="Submit now").count() == 0
    expect(dialog.get_by_role("button", name="Keep answering")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Answer every question, flag the second, and confirm from the dialog with the keyboard.
    drawn = attempt_in_view(engine, page)
    answer_on_page(page, world["bank"], drawn, right=True)
    flag = page.get_by_label("Flag question 2 for review")
    flag.focus()
    page.keyboard.press("Space")
    expect(flag).to_be_checked()
    submit.focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    total = len(drawn.questions)
    expect(dialog.locator("#submit-dialog-counts")).to_have_text(
        f"{total} of {total} answered · 0 unanswered · 1 flagged for review"
    )
    expect(dialog.get_by_role("link", name="Question 2")).to_be_visible()
    expect(dialog.get_by_role("button", name="Keep answering")).to_be_focused()  # a flag is open
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    screenshot(page, f"floor-quiz-dialog-{suffix}")
    assert serious_violations(page, CONTENT) == []
    page.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Submit now")).to_be_focused()
    assert serious_violations(page, CONTENT) == []  # a focused (or hovered) button keeps its contrast
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".result__verdict").inner_text() == "Passed"
    assert not page.console_errors
    context.close()


def test_quiz_review_page_without_javascript_and_an_empty_submit_refused(
    browser, live_server, engine, world, screenshot
):
    context, page = context_page(browser, live_server, DESKTOP, java_script_enabled=False)
    sign_in_with_keyboard(page, world["agent"].email)
    page.goto("/quizzes")
    page.get_by_role("button", name="Take the quiz: Account Security certification").click()
    page.wait_for_load_state()
    attempt_url = page.url
    drawn = attempt_in_view(engine, page)

    # Empty: the review page says nothing is answered and offers no submit.
    page.get_by_role("button", name="Submit answers").click()
    page.wait_for_load_state()
    expect(page.locator("#quiz-review h2")).to_have_text("No question answered yet")
    assert page.get_by_role("button", name="Submit now").count() == 0
    check_page(page, "floor-quiz-review-empty-no-js", screenshot, DESKTOP["width"])

    # Two answers and a flag: the summary counts them; Submit now grades.
    bank = world["bank"]
    answer_on_page(page, bank, replace(drawn, questions=drawn.questions[:2]), right=True, use_buttons=False)
    page.get_by_label("Flag question 1 for review").check()
    page.get_by_role("button", name="Submit answers").click()
    page.wait_for_load_state()
    total = len(drawn.questions)
    review = page.locator("#quiz-review")
    expect(review.locator(".quiz-review__counts")).to_have_text(
        f"2 of {total} answered · {total - 2} unanswered · 1 flagged for review"
    )
    expect(page.get_by_label("Flag question 1 for review")).to_be_checked()
    check_page(page, "floor-quiz-review-no-js", screenshot, DESKTOP["width"])
    review.get_by_role("button", name="Submit now").click()
    page.wait_for_load_state()
    assert page.url.split("#")[0] == attempt_url
    assert page.locator(".result__verdict").inner_text() == "Not passed"
    context.close()
