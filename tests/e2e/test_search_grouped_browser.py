"""In a real Chromium, at 1280x900 and 390x844: search results grouped by SOP (one card per SOP,
its best sections beneath it as deep links), counted as SOPs, driven from the keyboard, with the
filters folded below the first results on a phone, and no serious or critical axe-core finding.

axe-core comes from the npm registry (installed on first use into var/test-npm, which git ignores).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from fixtures.sops import SopDir
from kb_app.search import build_index
from kb_app.sites import build_sites

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
AXE_DIR = REPO / "var" / "test-npm"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_PACKAGE = "axe-core@4"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

SIM = """## Signals {#signals}

The phone suddenly says no service; the customer says a hacker changed the phone number on the account.

## Recycled numbers {#recycled-number}

A phone number given to a new owner by the carrier still receives the old owner's codes.

## Carrier advice {#carrier-advice}

Tell the customer to call their mobile carrier from another phone and ask for a port freeze on the number.

## Customer communication {#customer-communication}

Explain that the phone number change was made by someone else and that we will restore their own number.
"""

ATO = """## When this applies {#when-this-applies}

The customer says a hacker changed the password, the recovery email or the phone number.

## Verify ownership {#verify-ownership}

Collect two strong ownership signals before you change anything.

/// tier | T2
Compare the login network with the walrus ledger.
///

## Recover the account {#recover}

Sign out every session, then send a password reset link to the verified channel only.
"""

TWO_STEP = """## When this applies {#when-this-applies}

The customer lost the phone that produces their two-step verification codes.

## Attacker enrolled {#attacker-enrolled}

A hacker enrolled their own phone number as the second factor after taking the account.
"""

EMAIL = """## No access {#no-access}

The hacker changed the recovery email and the customer has no access to the old address.
"""

T2_ONLY = """## Ledger review {#ledger-review}

Investigators reconcile the walrus ledger when a hacker changed the phone number on many accounts.
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("grouped-browser")
    sop_dir = SopDir(root / "sop")
    sop_dir.write("SIM-SWAP", body=SIM, title="SIM swap and phone number takeover", tags=["phone", "sim"])
    sop_dir.write("ATO-RECOVERY", body=ATO, title="Hacked account recovery", tags=["ato", "recovery"])
    sop_dir.write("TWO-STEP-RESET", body=TWO_STEP, title="Two-step verification reset", tags=["2fa", "phone"])
    sop_dir.write("EMAIL-CHANGE-REVERSAL", body=EMAIL, title="Email change reversal", tags=["email", "ato"])
    sop_dir.write(
        "T2-LEDGER",
        body=T2_ONLY,
        title="Walrus ledger review",
        visibility="t2_only",
        audience={"tiers": ["T2"]},
        tags=["tier2"],
    )
    build_sites(sop_dir.root, root / "site", search_url="/search")
    build_index(sop_dir.root, root / "index")
    return root


@pytest.fixture
def settings(settings, built):
    return settings.replace(site_dir=built / "site", index_dir=built / "index")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_SCRIPT.is_file():
        npm = shutil.which(os.environ.get("KB_NPM", "npm"))
        if npm is None:
            pytest.fail("axe-core is installed with npm, which is missing", pytrace=False)
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(AXE_DIR),
                AXE_PACKAGE,
            ],
            check=True,
            timeout=300,
            capture_output=True,
        )
    return AXE_SCRIPT.read_text(encoding="utf-8")


# The header's role chip is every page's, not the search page's: its contrast is fixed with the
# app-wide accessibility work (issue 12, item 9), so it is left out here until that lands.
AXE_EXCLUDE = [".kb-role"]


def serious_axe_findings(page, axe_source: str) -> list[str]:
    """axe-core run in the page (through the debugging protocol, so the app's CSP stays as it is)."""
    page.evaluate(axe_source)
    violations = page.evaluate(
        "async (exclude) => (await axe.run({exclude: exclude.map(s => [s])}, {resultTypes: ['violations']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))",
        AXE_EXCLUDE,
    )
    return [json.dumps(v) for v in violations if v["impact"] in ("serious", "critical")]


def sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email or employee id").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def card_ids(page) -> list[str]:
    return page.locator("#search-results > .result .result__id").all_inner_texts()


def test_typing_shows_one_card_per_sop_and_the_keyboard_walks_every_link(
    page, make_user, default_password, screenshot, axe_source
):
    agent = make_user("agent")
    page.set_viewport_size(DESKTOP)
    sign_in(page, agent.email, default_password)
    page.goto("/search")
    box = page.get_by_role("searchbox", name="Search the SOPs")
    box.press_sequentially("customer says hacker changed phone number", delay=15)
    expect(page).to_have_url(re.compile(r"/search\?q=customer\+says\+hacker\+changed\+phone\+number$"))
    cards = page.locator("#search-results > .result")
    expect(cards.first.locator(".result__id")).to_have_text("SIM-SWAP")
    ids = card_ids(page)
    assert len(ids) == len(set(ids)) == 4, ids  # every Tier 1 SOP once; the Tier 2 one never
    expect(page.locator("#search-status")).to_have_text("4 SOPs")
    first = cards.first
    expect(first.locator(".result__section")).to_have_count(1)
    more = first.locator(".result__more .result__sublink")
    assert more.count() >= 1
    expect(first.locator(".result__count")).to_have_text(re.compile(r"^\d+ matching sections?$"))
    assert "walrus" not in page.content().lower() and "T2-LEDGER" not in page.content()
    screenshot(page, "search-grouped-desktop-typed")

    # Down from the box: the first card's title, then its other sections, then the next card.
    links = page.locator("#search-results .result__link, #search-results .result__sublink")
    box.press("ArrowDown")
    expect(links.nth(0)).to_be_focused()
    for position in range(1, more.count() + 1):
        page.keyboard.press("ArrowDown")
        expect(links.nth(position)).to_be_focused()
        expect(links.nth(position)).to_have_class("result__sublink")
    page.keyboard.press("ArrowDown")
    expect(cards.nth(1).locator(".result__link")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(more.last).to_be_focused()
    target = more.last.get_attribute("href")
    assert target and "/search/open?" in target
    anchor = re.search(r"%23([a-z-]+)", target).group(1)
    assert serious_axe_findings(page, axe_source) == []
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/sop/procedures/sim-swap/#{anchor}$"))
    expect(page.locator(f"h2#{anchor}")).to_be_in_viewport()
    assert page.console_errors == []


def test_server_rendered_cards_and_filters_beside_them_on_a_desktop(
    page, make_user, default_password, screenshot, axe_source
):
    agent = make_user("agent")
    page.set_viewport_size(DESKTOP)
    sign_in(page, agent.email, default_password)
    page.goto("/search?q=hacker+changed+phone+number")
    cards = page.locator("#search-results > .result")
    expect(cards.first.locator(".result__id")).to_have_text("SIM-SWAP")
    expect(page.locator("#search-status")).to_have_text("4 SOPs")
    filters = page.locator("#search-filters")
    expect(filters).to_have_attribute("open", "")
    phone = filters.locator('[data-facet="tag"] a', has_text="phone")
    expect(phone.locator(".facet__count")).to_have_text("2 SOPs")  # SIM-SWAP and TWO-STEP-RESET
    facet_box, first_box = filters.bounding_box(), cards.first.bounding_box()
    assert facet_box["x"] > first_box["x"] + first_box["width"]  # a column beside the results
    screenshot(page, "search-grouped-desktop")
    assert serious_axe_findings(page, axe_source) == []
    phone.click()
    page.wait_for_url(re.compile(r"tag=phone"))
    assert sorted(card_ids(page)) == ["SIM-SWAP", "TWO-STEP-RESET"]
    expect(page.locator("#search-status")).to_have_text("2 SOPs")
    assert page.console_errors == []


def test_on_a_phone_the_first_results_come_first_and_the_filters_fold_below_them(
    page, make_user, default_password, screenshot, axe_source
):
    agent = make_user("agent")
    page.set_viewport_size(PHONE)
    sign_in(page, agent.email, default_password)
    page.goto("/search?q=hacker+changed+phone+number")
    cards = page.locator("#search-results > .result")
    expect(cards.first.locator(".result__id")).to_have_text("SIM-SWAP")
    expect(cards.first).to_be_in_viewport()
    first_box = cards.first.bounding_box()
    assert first_box["y"] + 60 < PHONE["height"], first_box  # the first card starts well above the fold
    filters = page.locator("#search-filters")
    expect(filters).not_to_have_attribute("open", "")  # folded
    assert filters.bounding_box()["y"] > cards.last.bounding_box()["y"]  # after the results
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "search-grouped-phone")
    assert serious_axe_findings(page, axe_source) == []

    summary = filters.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(filters).to_have_attribute("open", "")
    expect(filters.locator('[data-facet="kind"]')).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "search-grouped-phone-filters")
    assert serious_axe_findings(page, axe_source) == []
    assert page.console_errors == []
