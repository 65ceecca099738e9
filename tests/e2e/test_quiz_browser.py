"""Quizzes in a real Chromium: an agent passes a certification, acknowledges a major SOP change,
fails its update quiz and then passes it (cool-down 0), and only then does the acknowledgement
count; a trainer reads the item analysis. Also the taker page at 390 px and without JavaScript."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kb_app.quizzes import attempts
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Assignment
from kb_app.models.quizzes import QuizAttempt
from kb_app.acks.publishing import publish, sync_assignments
from kb_app.quizzes.draw import Attempt
from kb_app.quizzes.schema import MultipleResponse, Ordering, ShortAnswer, SingleChoice, TrueFalse
from tests.conftest import DEFAULT_PASSWORD
from tests.quizzes.factories import SECRETS, answers_for, make_bank, write_bank

pytestmark = pytest.mark.browser

SOP_BODY = """## Purpose {#purpose}

Use this procedure when a customer reports that someone else took over their account.

## Steps {#steps}

1. Confirm the customer's identity with two strong signals.
2. Sign out every session.
3. Reset the password.
"""


@pytest.fixture
def world(engine, settings, sop_dir, make_user):
    """ATO-RECOVERY v2.0 (a major change) published a day ago; a certification bank and the
    update quiz for 2.0 (cool-down 0); the agent under test; twenty colleagues who already took
    the certification, so the item analysis has something to show."""
    sop_dir.write("ATO-RECOVERY", version="2.0", body=SOP_BODY)
    published_at = datetime.now(timezone.utc) - timedelta(days=1)
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=published_at, by="test")
    cert = make_bank("cert-t1", title="Account Security certification", cooldown_hours=24, review_shows_answers=False)
    update = make_bank(
        "update-ato-2-0",
        kind="update",
        version="2.0",
        title="What changed in ATO-RECOVERY 2.0",
        cooldown_hours=0,
        attempts_per_day=10,
    )
    write_bank(settings.quiz_dir, cert)
    write_bank(settings.quiz_dir, update)
    agent = make_user("agent", email="maria@example.com", start_date=(published_at - timedelta(days=90)).date())
    colleagues = [make_user("agent", vendor="apex-cx" if i % 2 else "lumen-support") for i in range(20)]
    with session_scope(engine) as session:
        sync_assignments(session, now=published_at)
        for index, user in enumerate(colleagues):
            attempt = attempts.start_attempt(session, user, cert, now=published_at, seed=f"c{index}").attempt
            keys = [q["key"] for q in attempt.drawn["questions"]]
            # Everyone gets the true/false right and the short answer wrong; the rest by ability.
            wrong = {q["key"] for q in attempt.drawn["questions"] if q["question_id"] == "team"}
            wrong |= set(keys[: index % 4]) - {
                q["key"] for q in attempt.drawn["questions"] if q["question_id"] == "screenshots"
            }
            attempts.submit_attempt(
                session,
                user,
                attempt.public_id,
                answers_for(cert, attempt.drawn, wrong_keys=wrong),
                now=published_at + timedelta(minutes=5),
            )
    return {"cert": cert, "update": update, "agent": agent}


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email or employee id").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def attempt_in_view(engine, page) -> Attempt:
    public_id = page.url.rstrip("/").split("/")[-1]
    with session_scope(engine) as session:
        return Attempt.from_dict(
            session.scalars(select(QuizAttempt.drawn).where(QuizAttempt.public_id == public_id)).one()
        )


def answer_on_page(page, bank, drawn: Attempt, *, right: bool, use_buttons: bool = True) -> None:
    """Answer every question the way an agent would: labels, checkboxes, keyboard moves."""
    answers = answers_for(bank, drawn, right=right)
    for item in drawn.questions:
        question, answer = bank.question(item.question_id), answers[item.key]
        fieldset = page.locator(f"fieldset#{item.key}")
        labels = item.label_map()
        if isinstance(question, SingleChoice):
            fieldset.get_by_label(question.option(labels[answer]).text, exact=True).check()
        elif isinstance(question, MultipleResponse):
            for label in answer:
                fieldset.get_by_label(question.option(labels[label]).text, exact=True).check()
        elif isinstance(question, TrueFalse):
            fieldset.get_by_label("True" if answer else "False", exact=True).check()
        elif isinstance(question, ShortAnswer):
            fieldset.get_by_label("Your answer").fill(answer)
        elif isinstance(question, Ordering):
            wanted = [question.items[int(labels[label])] for label in answer]
            if use_buttons:
                _order_with_buttons(fieldset, wanted)
            else:
                for position, text in enumerate(wanted, start=1):
                    fieldset.get_by_label(f"Place of: {text}").select_option(str(position))


def _order_with_buttons(fieldset, wanted: list[str]) -> None:
    """Move each item up into place with the keyboard (Enter on its Move up button)."""
    for target, text in enumerate(wanted):
        for _ in range(len(wanted)):
            shown = [t.strip() for t in fieldset.locator(".quiz-order__label").all_inner_texts()]
            if shown.index(text) == target:
                break
            fieldset.get_by_role("button", name=f"Move up: {text}").press("Enter")
    shown = [t.strip() for t in fieldset.locator(".quiz-order__label").all_inner_texts()]
    assert shown == wanted
    if fieldset.locator("select").first.input_value() == "":
        # Drawn in the right order already: positions stay open until an item is placed.
        fieldset.get_by_label(f"Place of: {wanted[0]}").select_option("1")
    positions = [s.input_value() for s in fieldset.locator("select").all()]
    assert positions == [str(i) for i in range(1, len(wanted) + 1)]


def submit_and_confirm(page) -> None:
    """Submit answers, then confirm: in the dialog with JavaScript, on the review page without."""
    page.get_by_role("button", name="Submit answers").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Submit now").click()


def assert_no_keys(page) -> None:
    html = page.content()
    for secret in (*SECRETS, "Threat Management"):
        assert secret not in html


def covered(engine, user) -> bool:
    with session_scope(engine) as session:
        return (
            session.scalar(select(Assignment.acknowledged_at).where(Assignment.agent_id == user.agent.id)) is not None
        )


def test_certify_then_acknowledge_with_a_comprehension_check_then_item_analysis(
    page, live_server, engine, world, screenshot
):
    cert, update, agent = world["cert"], world["update"], world["agent"]
    sign_in(page, agent.email)

    # 1. Take and pass the certification.
    assert not covered(engine, agent)
    page.get_by_role("link", name="Quizzes", exact=True).click()
    expect(page.locator(".cert-tag--none")).to_be_visible()
    screenshot(page, "quiz-my-quizzes-before")
    page.get_by_role("button", name="Take the quiz: Account Security certification").click()
    page.wait_for_load_state()
    assert page.locator("fieldset legend").count() == 5
    assert re.fullmatch(r"\d+:\d\d", page.locator("#time-left").inner_text()), "the countdown runs"
    assert_no_keys(page)
    answer_on_page(page, cert, attempt_in_view(engine, page), right=True)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "quiz-take-desktop")
    submit_and_confirm(page)
    page.wait_for_load_state()
    assert page.locator(".result__verdict").inner_text() == "Passed"
    assert "EXPLANATION-SECRET" not in page.content()  # this bank does not show answers
    screenshot(page, "quiz-result-pass")
    page.get_by_role("link", name="Your quizzes").first.click()
    expect(page.locator(".cert-tag--valid").first).to_have_text("certified")

    # 2. Acknowledge the major change: it does not count yet.
    page.get_by_role("link", name="Reading list", exact=True).click()
    page.get_by_role("link", name="Read", exact=True).click()
    page.wait_for_load_state()
    page.locator("#end-of-changes").scroll_into_view_if_needed()
    expect(page.locator("#ack-button")).to_be_enabled()
    page.locator("#ack-button").click()
    page.wait_for_load_state()
    notice = page.locator("[data-quiz-required=ATO-RECOVERY]")
    assert "acknowledged, quiz required" in notice.inner_text()
    assert not covered(engine, agent)
    screenshot(page, "quiz-reading-list-quiz-required")

    # 3. Fail the update quiz, started from the reading list notice.
    notice.get_by_role("button", name="Take the update quiz").click()
    page.wait_for_load_state()
    answer_on_page(page, update, attempt_in_view(engine, page), right=False)
    submit_and_confirm(page)
    page.wait_for_load_state()
    assert page.locator(".result__verdict").inner_text() == "Not passed"
    assert "EXPLANATION-SECRET" in page.content()  # update quizzes show the answers
    screenshot(page, "quiz-result-fail-review")
    assert not covered(engine, agent)

    # 4. Cool-down 0: take it again at once and pass; now the acknowledgement counts.
    page.get_by_role("link", name="Reading list", exact=True).click()
    expect(page.locator("[data-quiz-required=ATO-RECOVERY]")).to_be_visible()
    page.get_by_role("button", name="Take the update quiz").click()
    page.wait_for_load_state()
    answer_on_page(page, update, attempt_in_view(engine, page), right=True)
    submit_and_confirm(page)
    page.wait_for_load_state()
    assert page.locator(".result__verdict").inner_text() == "Passed"
    assert covered(engine, agent)
    page.get_by_role("link", name="Reading list", exact=True).click()
    expect(page.get_by_text("nothing to acknowledge")).to_be_visible()
    page.get_by_role("link", name="Quizzes", exact=True).click()
    page.wait_for_load_state()
    screenshot(page, "quiz-my-quizzes-after")
    assert not page.console_errors
    page.get_by_role("button", name="Sign out").click()

    # 5. The trainer sees coverage and the item analysis.
    trainer = _trainer(engine)
    sign_in(page, trainer)
    page.get_by_role("link", name="Coverage", exact=True).click()
    page.goto("/coverage?vendor=northwind-bpo")  # the agent's vendor: one agent, acknowledged
    expect(page.locator(".stat").first).to_have_text("100.0%")
    page.get_by_role("link", name="Quizzes", exact=True).click()
    page.wait_for_load_state()
    screenshot(page, "quiz-banks")
    page.get_by_role("row", name=re.compile("Account Security certification")).get_by_role(
        "link", name="Item analysis"
    ).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("Item analysis")
    flagged = page.locator("ul.flag-list li")
    assert flagged.count() >= 1 and "/sop/procedures/ato-recovery/#" in flagged.first.locator("a").get_attribute("href")
    assert page.locator("table.items tbody tr").count() == 5
    screenshot(page, "quiz-item-analysis")
    page.get_by_label("Compare by").select_option("vendor")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    assert "Facility by vendor" in page.content()
    page.get_by_role("link", name="Certifications", exact=True).click()
    page.wait_for_load_state()
    screenshot(page, "quiz-certification-coverage")
    assert not page.console_errors


def _trainer(engine) -> str:
    from kb_app import users

    with session_scope(engine) as session:
        users.create_user(
            session,
            email="trainer@example.com",
            role="trainer",
            name="Tess Trainer",
            password=DEFAULT_PASSWORD,
            actor="test",
        )
    return "trainer@example.com"


def test_the_taker_page_on_a_small_screen_and_without_javascript(browser, live_server, engine, world, screenshot):
    cert = world["cert"]
    phone = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    sign_in(page, world["agent"].email)
    page.goto("/quizzes")
    screenshot(page, "quiz-my-quizzes-390")
    page.get_by_role("button", name="Take the quiz: Account Security certification").click()
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    screenshot(page, "quiz-take-390")
    phone.close()

    plain = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = plain.new_page()
    sign_in(page, world["agent"].email)
    page.goto("/quizzes")
    page.get_by_role("link", name="Resume").first.click()
    page.wait_for_load_state()
    assert "submit by" in page.locator("#quiz-timer").inner_text()
    assert page.get_by_role("button", name=re.compile("Move up")).count() == 0  # plain selects instead
    answer_on_page(page, cert, attempt_in_view(engine, page), right=True, use_buttons=False)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "quiz-take-no-js")
    submit_and_confirm(page)
    page.wait_for_load_state()
    assert page.locator(".result__verdict").inner_text() == "Passed"
    plain.close()
