"""The SOP sites as the app serves them, in a real Chromium, driven as agents and trainers use them:
the app's navigation and the signed-in user on every page, the search box's server results as
you type (keyboard only), copy buttons that copy the whole text, drafts only in the trainers'
preview, and every page of both sites at 390 px without sideways scrolling and with no critical or
serious axe-core violation in the light and the dark palette."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from fixtures.axe import AxeUnavailable, axe_script, describe, serious_violations
from fixtures.sops import CORPUS, REPO_ROOT, SopDir
from kb_app.db import session_scope
from kb_app.models import SearchClick, SearchQuery
from kb_app.search import build_index
from kb_app.sites import build_sites, ensure_mermaid

pytestmark = pytest.mark.browser

ARTIFACTS = REPO_ROOT / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
DRAFT = """## Steps {#steps}

Call the customer back on the number on file before any reset; never on a number they give you.
"""
M01 = (
    "I'm sorry this happened. I'm going to help you get back into your account. "
    "I'll ask a few questions to make sure we return it to the right person."
)
SURGE_TEMPLATE = """SURGE UPDATE 14:00 UTC
P1 open: 6 (0 breached) | P2 open: 84 (22 breached) | P3: 310 | P4: paused
Staffed: 212 of 260 planned | Cross-skilled: 30
Biggest risk: Tagalog chat wait 45 min"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The real corpus plus one draft: real T1/T2 sites (mermaid vendored), previews, an index."""
    root = tmp_path_factory.mktemp("site-app-browser")
    shutil.copytree(CORPUS, root / "sop")
    SopDir(root / "sop").write("CALLBACK-RULES", body=DRAFT, title="Callback rules", status="draft")
    vendor = Path(os.environ.get("KB_VENDOR_DIR") or REPO_ROOT / "var" / "vendor")
    mermaid, warning = ensure_mermaid(vendor)
    if mermaid is None:
        pytest.skip(warning or "mermaid.js is not available")
    try:
        axe_script()
    except AxeUnavailable as error:
        if os.environ.get("KB_REQUIRE_BROWSER") == "1":
            pytest.fail(str(error))
        pytest.skip(str(error))
    build_sites(root / "sop", root / "site", search_url="/search", mermaid_js=mermaid.path, languages=[], previews=True)
    build_index(root / "sop", root / "index")
    return root


@pytest.fixture
def settings(settings, built):
    return settings.replace(site_dir=built / "site", index_dir=built / "index", sop_dir=built / "sop")


@pytest.fixture
def open_page(browser, live_server):
    """A signed-in page in a new context: `open_page(user, password, viewport=..., dark=...)`.
    CSP is bypassed only so that the axe-core script can be put into the page."""
    contexts = []

    def opener(user, password, *, viewport=DESKTOP, dark=False):
        context = browser.new_context(
            base_url=live_server.url, viewport=viewport, color_scheme="dark" if dark else "light", bypass_csp=True
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.console_errors = errors
        page.goto("/login")
        page.get_by_label("Email or employee id").fill(user.email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    yield opener
    for context in contexts:
        context.close()


def settle(page) -> None:
    """The page loaded and its own requests (banners, the flag control) answered. Not "networkidle":
    for a Tier 2 agent on some pages Chromium keeps the favicon and the flag-form request pending
    while every server thread is idle, so the network never counts as idle (not understood yet)."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(400)


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def site_pages(built: Path, key: str) -> list[str]:
    """Every page of a built site, as /sop/... paths (404.html is not a page one navigates to)."""
    root = built / "site" / key
    pages = []
    for index in sorted(root.rglob("index.html")):
        rel = index.parent.relative_to(root).as_posix()
        pages.append("" if rel == "." else rel + "/")
    return pages


def recorded(engine):
    with session_scope(engine) as session:
        searches = [(r.query, r.result_count) for r in session.scalars(select(SearchQuery).order_by(SearchQuery.id))]
        opened = [c.target for c in session.scalars(select(SearchClick).order_by(SearchClick.id))]
    return searches, opened


# --- one app -------------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_site_page_carries_the_apps_navigation_and_the_user(open_page, make_user, default_password, viewport):
    agent = make_user("agent", tier="T1")
    page = open_page(agent, default_password, viewport=viewport)
    page.goto("/sop/procedures/ato-recovery/")
    bar = page.locator(".kb-app")
    nav = bar.get_by_role("navigation", name="Knowledge base")
    for label in ("Home", "SOPs", "Search", "Reading list", "Quizzes"):
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="SOPs")).to_have_attribute("aria-current", "page")
    for staff in ("Coverage", "Publish", "Roster", "Drafts preview"):
        expect(nav.get_by_role("link", name=staff)).to_have_count(0)
    expect(bar.locator(".kb-app__name")).to_have_text(agent.display_name)
    expect(bar.get_by_role("button", name="Sign out")).to_be_visible()
    shoot(page, f"site-app-bar-{'phone' if viewport is PHONE else 'desktop'}")
    if viewport is DESKTOP:
        page.locator(".md-header .md-logo").click()
    else:
        nav.get_by_role("link", name="Home").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("h1")).to_be_visible()
    assert "/sop" not in page.url
    nav_links = page.get_by_role("navigation", name="Main")
    nav_links.get_by_role("link", name="SOPs").click()
    page.wait_for_url(re.compile(r"/sop/$"))
    expect(page.locator(".kb-app__nav a[aria-current=page]")).to_have_text("SOPs")
    assert page.console_errors == []


def test_a_trainer_sees_staff_links_and_the_drafts_preview(open_page, make_user, default_password, built):
    trainer = make_user("trainer")
    page = open_page(trainer, default_password)
    page.goto("/sop/")
    nav = page.get_by_role("navigation", name="Knowledge base")
    for staff in ("Coverage", "Publish", "Search analytics", "Roster"):
        expect(nav.get_by_role("link", name=staff)).to_be_visible()
    expect(page.get_by_text("Callback rules")).to_have_count(0)  # drafts are not in the agents' sites
    nav.get_by_role("link", name="Drafts preview").click()
    page.wait_for_url(re.compile(r"/sop-preview/T1/$"))
    expect(page.locator(".kb-preview-note")).to_contain_text("Preview for the training team")
    page.get_by_role("navigation", name="Navigation").get_by_role("link", name="Draft: Callback rules").first.click()
    page.wait_for_url(re.compile(r"/sop-preview/T1/procedures/callback-rules/$"))
    expect(page.locator(".kb-meta__notice--draft")).to_contain_text("Draft: not in force")
    expect(page.locator(".kb-chip--draft")).to_be_visible()
    shoot(page, "site-preview-draft")
    found = serious_violations(page)
    assert not found, describe(found)
    # The preview keeps the built-in search, which holds the drafts.
    page.keyboard.press("/")
    page.keyboard.type("callback rules")
    expect(page.locator(".md-search-result__list")).to_contain_text("Callback rules")
    page.keyboard.press("Escape")
    page.locator(".kb-preview-note").get_by_role("link", name="Tier 2").click()
    page.wait_for_url(re.compile(r"/sop-preview/T2/$"))
    expect(page.locator(".md-header__topic").first).to_contain_text("Tier 2 · Preview")
    assert page.console_errors == []


def test_an_agent_never_meets_a_draft(open_page, make_user, default_password):
    agent = make_user("agent", tier="T1")
    page = open_page(agent, default_password)
    response = page.goto("/sop/procedures/callback-rules/")
    assert response.status == 404
    assert page.goto("/sop-preview/T1/").status == 403
    page.goto("/search?q=number+on+file+callback")
    expect(page.locator("#search-results")).not_to_contain_text("CALLBACK-RULES")


# --- search as you type --------------------------------------------------------------------------


def test_the_search_box_shows_server_results_as_you_type_keyboard_only(open_page, make_user, default_password, engine):
    agent = make_user("agent", tier="T1")
    page = open_page(agent, default_password)
    page.goto("/sop/")
    page.keyboard.press("/")  # Material's shortcut: focus the search box
    box = page.get_by_role("textbox", name="Search the SOPs")
    expect(box).to_be_focused()
    box.press_sequentially("sim swap carrier", delay=40)
    results = page.locator("#kb-site-search .kb-site-search__link")
    expect(results.first).to_contain_text("SIM-SWAP")
    expect(page.locator("#kb-site-search .kb-site-search__status")).to_have_text(re.compile(r"^\d+ SOPs?$"))
    expect(page.get_by_role("dialog", name="Search the SOPs")).to_be_visible()
    expect(page.locator(".md-search-result")).to_be_hidden()  # the theme's offline results are not shown
    shoot(page, "site-search-as-you-type-desktop")
    assert results.count() >= 2
    box.press("ArrowDown")
    expect(results.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(results.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(results.nth(0)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(box).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#kb-site-search")).to_be_hidden()
    expect(box).not_to_be_focused()
    assert not page.locator("#__search").is_checked()

    # Same results as the Search page: the first hit there is the first hit here.
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(results.first).to_be_visible()
    first_target = results.first.get_attribute("href")
    assert first_target.startswith("/search/open?")
    box.press("Enter")  # from the box: opens the first result
    page.wait_for_url(re.compile(r"/sop/procedures/sim-swap/#"))
    searches, opened = recorded(engine)
    assert [q for q, _ in searches] == ["sim swap carrier"] and searches[0][1] > 0  # one search for the burst
    assert len(opened) == 1 and opened[0].startswith("/sop/procedures/sim-swap/")
    assert page.console_errors == []


def test_the_site_search_matches_the_search_page(open_page, make_user, default_password):
    agent = make_user("agent", tier="T1")
    page = open_page(agent, default_password)
    page.goto("/search?q=lost+phone+codes")
    on_page = page.locator("#search-results .result__id").all_text_contents()[:5]
    page.goto("/sop/")
    page.keyboard.press("/")
    page.keyboard.type("lost phone codes")
    ids = page.locator("#kb-site-search .kb-site-search__id")
    expect(ids.first).to_be_visible()
    assert ids.all_text_contents()[:5] == on_page


def test_phone_search_opens_full_screen_with_results(open_page, make_user, default_password):
    agent = make_user("agent", tier="T1")
    page = open_page(agent, default_password, viewport=PHONE)
    page.goto("/sop/")
    page.locator("label.md-header__button[for=__search]").click()
    box = page.get_by_role("textbox", name="Search the SOPs")
    expect(box).to_be_focused()
    box.press_sequentially("port freeze", delay=30)
    expect(page.locator("#kb-site-search .kb-site-search__link").first).to_contain_text("SIM-SWAP")
    shoot(page, "site-search-as-you-type-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    found = serious_violations(page)
    assert not found, describe(found)


def test_a_tier1_reader_never_gets_tier2_results_in_the_site_search(open_page, make_user, default_password):
    agent = make_user("agent", tier="T1")
    page = open_page(agent, default_password)
    page.goto("/sop/")
    page.keyboard.press("/")
    page.keyboard.type("insider risk investigator")
    expect(page.locator("#kb-site-search .kb-site-search__status")).not_to_be_empty()
    assert "T2-INSIDER-RISK" not in page.locator("#kb-site-search").inner_text()


# --- copy in one click ----------------------------------------------------------------------------


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_macros_templates_and_case_fields_copy_in_full(open_page, make_user, default_password):
    agent = make_user("agent", tier="T1")
    page = open_page(agent, default_password)
    page.goto("/sop/procedures/customer-comms/")
    row = page.locator("#macro-library ~ div table tr", has_text="ATO-M01")
    button = row.get_by_role("button", name=re.compile(r"^Copy wording"))
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_text("Copied")
    assert clipboard(page) == M01
    shoot(page, "site-copy-macro")
    # Every quoted macro in the library has its button; the closing message too. A quote in the
    # advice on tone ("say X, not Y") is not wording to send, and gets none.
    assert page.locator("#macro-library ~ div table .kb-copy").count() >= 5
    closing = page.locator("#customer-communication ~ p.kb-copyable").last
    closing.get_by_role("button", name=re.compile(r"^Copy wording")).click()
    assert clipboard(page).startswith("You're all set.") and clipboard(page).endswith("pick it up right away.")
    expect(page.locator("#tone + ol")).to_have_count(1)
    assert page.locator("#tone + ol .kb-copy").count() == 0

    page.goto("/sop/procedures/backlog-sla/")
    block = page.locator("pre", has_text="SURGE UPDATE")
    block.hover()
    block.get_by_role("button", name="Copy to clipboard").click()
    assert clipboard(page).rstrip("\n") == SURGE_TEMPLATE

    page.goto("/sop/escalations/esc-tier2-review/")
    fields = page.locator(".kb-table--steps tbody tr").first.get_by_role("button", name=re.compile("^Copy case fields"))
    fields.click()
    copied = clipboard(page)
    assert copied.startswith("case_id, ") and "  " not in copied

    page.goto("/sop/procedures/sim-swap/")
    required = page.locator("p.kb-copyable", has_text="Required fields:")
    required.get_by_role("button", name=re.compile("^Copy case fields")).click()
    assert clipboard(page).startswith("case_id, account_id, priority, sim_swap_check")
    assert page.console_errors == []


# --- phones and accessibility ---------------------------------------------------------------------


def test_the_escalation_flow_is_a_step_list_on_a_phone_and_a_diagram_on_a_desktop(
    open_page, make_user, default_password
):
    agent = make_user("agent", tier="T1")
    phone = open_page(agent, default_password, viewport=PHONE)
    phone.goto("/sop/escalations/esc-threat-mgmt/")
    steps = phone.get_by_role("list", name="Escalation steps")
    expect(steps).to_be_visible()
    expect(steps.locator(":scope > li").first).to_contain_text("Threat Management")
    expect(phone.locator(".kb-flow")).to_be_hidden()
    steps.scroll_into_view_if_needed()
    shoot(phone, "site-escalation-steps-phone")
    desktop = open_page(agent, default_password)
    desktop.goto("/sop/escalations/esc-threat-mgmt/")
    expect(desktop.locator(".kb-flow .mermaid")).to_be_visible()
    expect(desktop.get_by_role("list", name="Escalation steps")).to_be_hidden()
    desktop.locator(".kb-flow").scroll_into_view_if_needed()
    shoot(desktop, "site-escalation-diagram-desktop")


SWEEP = [
    pytest.param("agent", {"tier": "T1"}, "T1", False, id="T1-light"),
    pytest.param("agent", {"tier": "T1"}, "T1", True, id="T1-dark"),
    pytest.param("trainer", {}, "T2", False, id="T2-light"),
    pytest.param("trainer", {}, "T2", True, id="T2-dark"),
]


@pytest.mark.parametrize("db_backend", ["sqlite"])  # every page of a site: the database plays no part
@pytest.mark.parametrize(("role", "fields", "key", "dark"), SWEEP)
def test_every_site_page_fits_a_phone_and_has_no_serious_accessibility_fault(
    open_page, make_user, default_password, built, db_backend, role, fields, key, dark
):
    user = make_user(role, **fields)
    page = open_page(user, default_password, viewport=PHONE, dark=dark)
    problems = []
    pages = site_pages(built, key)
    assert len(pages) >= 28
    for path in pages:
        page.goto(f"/sop/{path}")
        settle(page)
        scheme = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        assert scheme == ("slate" if dark else "default"), path
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            problems.append(f"/sop/{path}: {width}px wide at {PHONE['width']}px")
        found = serious_violations(page)
        if found:
            problems.append(f"/sop/{path}:\n{describe(found)}")
    page.set_viewport_size(DESKTOP)
    for path in ("", "procedures/ato-recovery/", "escalations/esc-threat-mgmt/", "recent-changes/"):
        page.goto(f"/sop/{path}")
        settle(page)
        found = serious_violations(page)
        if found:
            problems.append(f"desktop /sop/{path}:\n{describe(found)}")
    page.goto("/sop/")
    page.keyboard.press("/")
    page.keyboard.type("hacked account")
    expect(page.locator("#kb-site-search .kb-site-search__link").first).to_be_visible()
    found = serious_violations(page)
    if found:
        problems.append(f"search dialog open:\n{describe(found)}")
    assert not problems, "\n".join(problems)
    assert page.console_errors == []
