"""In a real Chromium: results appear as an agent types on the search page and open at the right
section; the search box of a real MkDocs site served by the app shows the same results in place."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from fixtures.sops import SopDir
from kb_app.db import session_scope
from kb_app.models import SearchClick, SearchQuery
from kb_app.search import build_index
from kb_app.sites import build_sites

pytestmark = pytest.mark.browser

ATO = """Lead text of the recovery procedure.

## When this applies {#when-this-applies}

The customer says their account was hacked and the recovery email was changed.

## Verify ownership {#verify-ownership}

Collect two strong ownership signals through the console before you recover anything.

/// tier | T2
Compare the login network with the walrus ledger.
///

## Recover the account {#recover}

Sign out every session, then send a password reset link to the verified channel only.
"""

TWO_STEP = """## When this applies {#when-this-applies}

The customer lost the phone that produces their two-step verification codes.

## Cooling-off period {#cooling-off}

A standard reset waits 72 hours before the factor is removed; explain that the wait protects them.
"""

SIM = """## Signals {#signals}

The phone suddenly says no service and codes arrive that the customer never asked for.

## Carrier advice {#carrier-advice}

Tell the customer to call their mobile carrier from another phone and ask for a port freeze.
"""

T2_ONLY = """## Ledger review {#ledger-review}

Investigators reconcile the walrus ledger every morning.
"""

BULLETIN = """## What is happening {#summary}

Callers pretend to be our support line and ask customers to read out their codes.
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Real T1 and T2 sites (search box sent to /search) and a real index of a small corpus."""
    root = tmp_path_factory.mktemp("search-browser")
    sop_dir = SopDir(root / "sop")
    sop_dir.write("ATO-RECOVERY", body=ATO, title="Hacked account recovery", tags=["ato", "recovery"])
    sop_dir.write("TWO-STEP-RESET", body=TWO_STEP, title="Two-step verification reset", tags=["authenticator"])
    sop_dir.write("SIM-SWAP", body=SIM, title="SIM swap and port-out", tags=["phone", "sim"])
    sop_dir.write(
        "T2-LEDGER",
        body=T2_ONLY,
        title="Walrus ledger review",
        visibility="t2_only",
        audience={"tiers": ["T2"]},
        tags=["tier2"],
    )
    sop_dir.write(
        "BUL-2099-CALLBACK",
        kind="bulletin",
        body=BULLETIN,
        title="Callback scam wave",
        tags=["bulletin"],
        expires="2099-12-01T00:00:00Z",
    )
    build_sites(sop_dir.root, root / "site", search_url="/search")
    build_index(sop_dir.root, root / "index")
    return root


@pytest.fixture
def settings(settings, built):
    return settings.replace(site_dir=built / "site", index_dir=built / "index")


def sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email or employee id").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def recorded(engine) -> tuple[list[tuple[str, int]], list[str]]:
    with session_scope(engine) as session:
        searches = [(r.query, r.result_count) for r in session.scalars(select(SearchQuery).order_by(SearchQuery.id))]
        opened = [c.target for c in session.scalars(select(SearchClick).order_by(SearchClick.id))]
    return searches, opened


def test_results_appear_as_the_agent_types_and_open_at_the_section(
    page, make_user, default_password, engine, screenshot
):
    agent = make_user("agent")
    sign_in(page, agent.email, default_password)
    page.goto("/search")
    box = page.get_by_role("searchbox", name="Search the SOPs")
    expect(box).to_be_focused()
    box.press_sequentially("reset codes wiat", delay=40)  # a typo, too
    expect(page).to_have_url(re.compile(r"/search\?q=reset\+codes\+wiat$"))  # rendered without a page load
    results = page.locator("#search-results .result")
    expect(results.first).to_contain_text("TWO-STEP-RESET")
    expect(results.first.locator(".result__section")).to_have_text("Cooling-off period")
    expect(results.first.locator(".result__snippet mark").first).to_have_text("reset waits")
    expect(page.locator("#search-status")).to_have_text(re.compile(r"^\d+ SOPs?$"))  # one card per SOP
    expect(page.locator("#search-suggestions")).to_have_text("Did you mean reset codes wait?")
    expect(page.locator(".search-pinned")).to_contain_text("Callback scam wave")
    expect(page.locator(".search-pinned")).to_contain_text("until 2099-12-01 00:00 UTC")
    screenshot(page, "search-as-you-type")

    # Every link of the cards, in reading order: each SOP's best section, then its other sections.
    links = page.locator("#search-results .result__link, #search-results .result__sublink")
    assert links.count() >= 2
    box.press("ArrowDown")
    expect(links.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(links.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(links.nth(0)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(box).to_be_focused()
    box.press("ArrowDown")
    expect(links.nth(0)).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/sop/procedures/two-step-reset/#cooling-off$"))
    expect(page.locator("h2#cooling-off")).to_be_in_viewport()
    screenshot(page, "search-opened-section")

    searches, opened = recorded(engine)
    assert (
        len(searches) == 1 and searches[0][0] == "reset codes wiat" and searches[0][1] > 0
    )  # one search for the whole burst
    assert opened == ["/sop/procedures/two-step-reset/#cooling-off"]
    assert page.console_errors == []


def test_escape_clears_and_no_results_says_what_to_do(page, make_user, default_password, screenshot):
    agent = make_user("agent")
    sign_in(page, agent.email, default_password)
    page.goto("/search")
    box = page.get_by_role("searchbox", name="Search the SOPs")
    box.press_sequentially("walrus ledger", delay=30)  # Tier 2-only words: nothing for Tier 1
    expect(page.locator("#search-status")).to_have_text(re.compile("No results"))
    expect(page.locator("#search-empty")).to_be_visible()
    expect(page.locator("#search-empty")).to_contain_text("training team")
    expect(page.locator("#search-results")).to_be_hidden()
    screenshot(page, "search-no-results")
    box.press("Escape")
    expect(box).to_have_value("")
    expect(page.locator("#search-status")).to_have_text("Search cleared")
    expect(page.locator("#search-start")).to_be_visible()
    assert "walrus" not in page.content().lower()
    assert page.console_errors == []


def test_mkdocs_search_box_shows_the_search_pages_results_in_place_and_opens_the_section(
    page, make_user, default_password, engine, screenshot
):
    agent = make_user("agent")
    sign_in(page, agent.email, default_password)
    page.goto("/sop/")
    expect(page.locator('meta[name="kb-search-url"]')).to_have_attribute("content", "/search")
    page.locator(".md-search__input").click()
    page.locator(".md-search__input").fill("sim swap carrier")
    results = page.locator("#kb-site-search .kb-site-search__link")
    expect(results.first).to_contain_text("SIM-SWAP")
    expect(results.first.locator(".kb-site-search__section")).to_have_text("Carrier advice")
    expect(page).to_have_url(re.compile(r"/sop/$"))  # no hand-off to the search page
    screenshot(page, "search-from-mkdocs")
    page.locator(".md-search__input").press("Enter")
    page.wait_for_url(re.compile(r"/sop/procedures/sim-swap/#carrier-advice$"))
    expect(page.locator("h2#carrier-advice")).to_be_in_viewport()
    searches, opened = recorded(engine)
    assert [q for q, _ in searches] == ["sim swap carrier"] and opened == ["/sop/procedures/sim-swap/#carrier-advice"]
    page.goto("/sop/")
    page.locator(".md-search__input").click()
    page.locator(".md-search__input").fill("sim swap carrier")
    page.get_by_role("link", name=re.compile(r"SOPs on the Search page|Open the Search page")).click()
    page.wait_for_url(re.compile(r"/search\?q=sim(%20|\+)swap(%20|\+)carrier$"))
    expect(page.locator("#search-results .result").first).to_contain_text("SIM-SWAP")


def test_a_tier1_reader_asking_for_tier2_gets_tier1(page, make_user, default_password):
    agent = make_user("agent")
    sign_in(page, agent.email, default_password)
    page.goto("/search?q=walrus+ledger&audience=T2")
    expect(page.locator("#search-status")).to_have_text(re.compile("No results"))
    assert "T2-LEDGER" not in page.content()


def test_search_page_works_without_javascript(browser, live_server, make_user, default_password, screenshot):
    agent = make_user("agent")
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": 390, "height": 800}
    )
    page = context.new_page()
    try:
        sign_in(page, agent.email, default_password)
        page.goto("/search")
        page.get_by_role("searchbox", name="Search the SOPs").fill("hacked account")
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_url(re.compile(r"/search\?q=hacked\+account"))
        expect(page.locator("#search-results .result").first).to_contain_text("ATO-RECOVERY")
        screenshot(page, "search-no-js-phone")
    finally:
        context.close()


def test_trainer_reads_search_analytics(page, make_user, default_password, browser, live_server, screenshot):
    agent = make_user("agent")
    agent_context = browser.new_context(base_url=live_server.url)
    agent_page = agent_context.new_page()
    sign_in(agent_page, agent.email, default_password)
    for query in ("hacked account", "walrus ledger", "hacked account", "xylophone", "sim swap"):
        agent_page.goto(f"/search?q={query.replace(' ', '+')}")
    agent_page.locator("#search-results .result__link").first.click()
    agent_context.close()

    trainer = make_user("trainer")
    sign_in(page, trainer.email, default_password)
    page.get_by_role("link", name="Search analytics").click()
    expect(page.locator("h1")).to_have_text("Search analytics")
    expect(page.locator("#sa-zero-title + p + table")).to_contain_text("walrus ledger")
    expect(page.locator("#sa-zero-title + p + table")).to_contain_text("xylophone")
    expect(page.locator("#sa-unopened-title + p + table")).to_contain_text("hacked account")
    page.get_by_label("Weeks").select_option("8")
    page.wait_for_url(re.compile(r"weeks=8"))
    expect(page.locator("table.sa-weeks tbody tr")).to_have_count(8)
    screenshot(page, "search-analytics")
    assert page.console_errors == []


def test_top_bar_search_box_on_every_page(page, make_user, default_password, screenshot):
    agent = make_user("agent")
    sign_in(page, agent.email, default_password)
    page.goto("/")
    box = page.get_by_role("searchbox", name="Search the SOPs")
    expect(box).to_be_visible()
    screenshot(page, "search-top-bar")
    box.fill("port freeze")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=port\+freeze$"))
    expect(page.locator("#search-results .result").first).to_contain_text("SIM-SWAP")
    expect(page.locator("form.kb-search")).to_have_count(0)  # the search page has its own box
