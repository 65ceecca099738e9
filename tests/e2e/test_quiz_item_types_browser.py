"""Matching, numerical and partial-credit questions in a real Chromium, on a desktop (1280x900) and a
phone (390x844), by keyboard; a failed attempt puts the missed sections on the reading list and the
retry unlocks once they are read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.quizzes.schema import Matching, Numerical
from tests.e2e.test_quiz_browser import submit_and_confirm, SOP_BODY, answer_on_page, attempt_in_view, sign_in
from tests.quizzes.factories import SECRETS, answers_for, make_new_types_bank, write_bank

pytestmark = pytest.mark.browser

TITLE = "Escalation routes certification"


@pytest.fixture
def world(engine, settings, sop_dir, make_user):
    sop_dir.write("ATO-RECOVERY", version="2.0", body=SOP_BODY)
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=1), by="test")
    bank = make_new_types_bank("cert-routes", title=TITLE, cooldown_hours=24, retry_after="reading")
    write_bank(settings.quiz_dir, bank)
    return {"bank": bank, "agent": make_user("agent", email="ravi@example.com")}


def answer_new_types(page, bank, drawn, *, right: bool, keyboard: bool) -> None:
    """The other types as before; matching by keyboard (focus each select, arrow to the answer) and
    numbers typed (with a decimal comma where there is one)."""
    answer_on_page(page, bank, drawn, right=right)
    answers = answers_for(bank, drawn, right=right)
    for item in drawn.questions:
        question = bank.question(item.question_id)
        fieldset = page.locator(f"fieldset#{item.key}")
        if isinstance(question, Matching):
            texts = {c: question.choices[i] for c, i in item.choice_map().items()}
            for prompt, choice in answers[item.key].items():
                select = fieldset.locator(f"select[name='{item.key}.{prompt}']")
                if keyboard:
                    select.focus()
                    for _ in range(len(texts) + 1):
                        if select.evaluate("s => s.options[s.selectedIndex].text") == texts[choice]:
                            break
                        page.keyboard.press("ArrowDown")
                    assert select.input_value() == choice
                else:
                    select.select_option(choice)
        elif isinstance(question, Numerical):
            field = fieldset.get_by_label("Your answer (in hours)")
            field.click()
            page.keyboard.type(str(answers[item.key]).replace(".", ","))


def assert_no_keys(page) -> None:
    html = page.content()
    for secret in (*SECRETS, ">Security<", "credit"):
        assert secret not in html, secret


def no_sideways_scroll(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways ({scroll}px)"


def test_fail_reread_the_missed_sections_then_retry_and_pass_on_a_desktop(
    browser, live_server, engine, world, screenshot
):
    bank, agent = world["bank"], world["agent"]
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_default_timeout(10_000)
    sign_in(page, agent.email)
    page.goto("/quizzes")
    page.get_by_role("button", name=f"Take the quiz: {TITLE}").click()
    page.wait_for_load_state()
    assert page.locator("fieldset legend").count() == 8
    assert page.locator("select.quiz-match__select").count() == 3
    assert page.locator("input[inputmode=decimal]").count() == 1
    assert_no_keys(page)

    # 1. Fail: every question wrong.
    answer_new_types(page, bank, attempt_in_view(engine, page), right=False, keyboard=True)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "quiz-new-types-desktop")
    submit_and_confirm(page)
    page.wait_for_load_state()
    assert page.locator(".result__verdict").inner_text() == "Not passed"
    assert page.locator("table.review-pairs tbody tr").count() == 3
    screenshot(page, "quiz-new-types-fail-review")

    # 2. The retry is locked until the missed sections are read; they are on the reading list.
    page.goto("/quizzes")
    expect(page.get_by_text("Retry unlocks once you have read")).to_be_visible()
    assert page.get_by_role("button", name=f"Take the quiz: {TITLE}").count() == 0
    page.get_by_role("link", name="Reading list", exact=True).click()
    expect(page.get_by_role("heading", name="Re-read after a quiz")).to_be_visible()
    page.get_by_role("link", name=f"Re-read the sections missed in {TITLE}").click()
    page.wait_for_load_state()
    expect(page.locator(".remediation-progress")).to_contain_text("0 of 2")
    expect(page.get_by_text("Confirm the customer's identity with two strong signals.")).to_be_visible()
    screenshot(page, "quiz-remediation-task")
    for read, heading in enumerate(("Purpose", "Steps"), start=1):
        button = page.get_by_role("button", name=f"I have read this section {heading}")
        button.focus()
        page.keyboard.press("Enter")
        if read < 2:  # the page comes back with the count moved on before the next press
            expect(page.locator(".remediation-progress")).to_contain_text(f"{read} of 2")
    expect(page.get_by_text("you can retry the quiz now")).to_be_visible()

    # 3. Retry and pass.
    page.get_by_role("button", name=f"Take the quiz: {TITLE}").click()
    page.wait_for_load_state()
    answer_new_types(page, bank, attempt_in_view(engine, page), right=True, keyboard=True)
    submit_and_confirm(page)
    page.wait_for_load_state()
    assert page.locator(".result__verdict").inner_text() == "Passed"
    expect(page.get_by_text("3 of 3 pairs right")).to_be_visible()
    page.get_by_role("link", name="Reading list", exact=True).click()
    assert page.get_by_role("heading", name="Re-read after a quiz").count() == 0
    assert not errors, errors
    context.close()


def test_the_new_types_on_a_phone(browser, live_server, engine, world, screenshot):
    bank = world["bank"]
    phone = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, world["agent"].email)
    page.goto("/quizzes")
    page.get_by_role("button", name=f"Take the quiz: {TITLE}").click()
    page.wait_for_load_state()
    no_sideways_scroll(page, 390)
    select = page.locator("select.quiz-match__select").first
    box = select.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 200, box  # big enough to tap
    screenshot(page, "quiz-new-types-390")
    answer_new_types(page, bank, attempt_in_view(engine, page), right=True, keyboard=False)
    submit_and_confirm(page)
    page.wait_for_load_state()
    assert page.locator(".result__verdict").inner_text() == "Passed"
    no_sideways_scroll(page, 390)
    screenshot(page, "quiz-new-types-result-390")
    phone.close()
