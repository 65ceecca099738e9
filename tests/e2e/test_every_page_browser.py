"""Every page of the app, as every role opens it, in a real Chromium over the demo data:

- at 390 px wide no page scrolls sideways, and every button, field and menu is on screen
  (the Read and Start buttons included): row tables become cards;
- axe-core reports no critical or serious violation, on desktop and phone, light and dark;
- the app follows prefers-color-scheme, and the toggle switches and remembers the theme.

The pages come from the registry in `fixtures.pages`; a route of the app that is in neither its
pages nor its non-pages fails `test_every_route_is_in_the_page_registry`. Screenshots of the main
pages land in test-artifacts/pages-*.png.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from dataclasses import dataclass
from pathlib import Path

import pytest
from waitress import create_server

from fixtures.axe import violations
from kb_app.db import session_scope
from kb_app.improvement.actions import ActionInput, create_action
from fixtures.fake_sites import build_fake_sites
from fixtures.live import DEMO_LOGINS, LiveApp
from fixtures.pages import ANONYMOUS, ERROR_PAGES, NOT_PAGES, PAGES, ROLES, page_routes, visits
from kb_app import demo
from kb_app.config import Settings
from kb_app.quizzes.library import BankLibrary
from kb_app.web import create_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PASSWORDS = {login["email"]: login["password"] for login in demo.load_settings()["logins"]}
EXPECTED_STATUS = {"error.not_found": 404, "error.forbidden": 403}


@dataclass
class Site:
    url: str
    app: object
    ids: dict[str, str]


def _api(client, token: str, method: str, path: str, **kwargs):
    response = getattr(client, method)(f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert response.status_code < 500, response.get_data(as_text=True)
    return response


def _ids(app, live: LiveApp) -> dict[str, str]:
    """Ids the pages need: an SOP on the agent's reading list, its requirement, a Tier 1 bank, an
    open attempt and a reading task after a failed one."""
    client = app.test_client()
    agent, trainer = live.tokens["agent_t1"], live.tokens["trainer"]
    sop_id = _api(client, agent, "get", "/reading-list").get_json()["items"][0]["sop_id"]
    rows = _api(client, trainer, "get", "/coverage?by=requirement").get_json()["rows"]
    requirement_id = next(r["requirement_id"] for r in rows if r["sop_id"] == sop_id)
    banks = [b for b in BankLibrary(live.root / "quizzes").current().banks.values() if b.tier != "T2"]
    ids = {"sop_id": sop_id, "requirement_id": str(requirement_id), "bank_id": banks[0].id}
    for bank in banks:
        if "task_id" in ids and "attempt_id" in ids:
            break
        view = _api(client, agent, "post", "/quiz-attempts", json={"bank_id": bank.id}).get_json()
        if "attempt_id" not in view:
            continue
        if "task_id" in ids:
            ids["attempt_id"] = view["attempt_id"]  # left open, for the attempt page
            continue
        first = view["questions"][0]
        answer = {"single": "zz", "true_false": False}.get(first["type"], "zz")
        if first.get("options") and first["type"] == "single":
            answer = first["options"][-1]["id"]
        _api(
            client,
            agent,
            "post",
            f"/quiz-attempts/{view['attempt_id']}/submit",
            json={"answers": {first["key"]: answer}},
        )
        tasks = _api(client, agent, "get", "/me/remediation").get_json()["tasks"]
        if tasks:
            ids["task_id"] = str(tasks[0]["task_id"])
    assert {"task_id", "attempt_id"} <= set(ids), f"could not set up a reading task and an open attempt: {ids}"
    with session_scope(app.extensions["kb_engine"]) as session:  # an action for the action page
        action = create_action(
            session,
            ActionInput(
                title="Clarify the relay question",
                owner_email="trainer@demo.example",
                team="Training",
                due_date=date.today() + timedelta(days=7),
                action_type="sop",
                sections=(sop_id,),
            ),
            actor="pages",
            now=datetime.now(timezone.utc),
        )
        ids["action_id"] = str(action.id)
    return ids


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The demo (seeded, published, indexed, with demo activity) served by waitress."""
    root = tmp_path_factory.mktemp("pages")
    live = LiveApp(root).prepare()
    live.kb("demo", "activity")
    settings = Settings(
        root=root,
        sop_dir=root / "sop",
        quiz_dir=root / "quizzes",
        var_dir=root / "var",
        index_dir=root / "var" / "index",
        site_dir=build_fake_sites(root / "site"),
        database_url=live.env["KB_DATABASE_URL"],
        secret_key="pages",
        api_rate_limit="100000 per minute",
        login_rate_limit="100000 per minute",
    )
    app = create_app(settings, test_config={"TESTING": True, "REQUEST_LOG": False})
    ids = _ids(app, live)
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="kb-pages")
    thread = threading.Thread(target=server.run, name="pages-server", daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.effective_port}", app, ids)
    server.close()
    app.extensions["kb_engine"].dispose()


def test_every_route_is_in_the_page_registry(site):
    routes = page_routes(site.app)
    missing = sorted(set(routes) - set(PAGES) - set(NOT_PAGES))
    assert not missing, "routes without a case in tests/fixtures/pages.py: " + ", ".join(
        f"{e} ({routes[e]})" for e in missing
    )
    stale = sorted((set(PAGES) | set(NOT_PAGES)) - set(routes))
    assert not stale, f"registry entries without a route: {stale}"
    assert not set(PAGES) & set(NOT_PAGES)
    assert set(ERROR_PAGES).isdisjoint(routes)


def _context(browser, site: Site, role: str, viewport: dict, scheme: str):
    context = browser.new_context(base_url=site.url, viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    if role != ANONYMOUS:
        email = DEMO_LOGINS[role]
        page.goto("/login")
        page.get_by_label("Email or employee id").fill(email)
        page.get_by_label("Password").fill(PASSWORDS[email])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, f"{role} could not sign in"
    return context, page


OFF_SCREEN = """() => {
    const width = window.innerWidth;
    const out = [];
    for (const el of document.querySelectorAll("a.btn, button, input:not([type=hidden]), select, textarea")) {
        const box = el.getBoundingClientRect();
        if (!box.width || !box.height || el.closest("[hidden]")) continue;
        if (box.left < -1 || box.right > width + 1) {
            out.push((el.textContent || el.name || el.tagName).trim().slice(0, 40) + " @" + Math.round(box.right));
        }
    }
    return out;
}"""


@pytest.mark.parametrize("role", [ANONYMOUS, *ROLES])
def test_every_page_fits_a_phone_and_passes_axe_light_and_dark(browser, site, role):
    problems: list[str] = []
    pages = visits(role)
    assert pages, f"no page for {role}"
    for viewport, scheme in ((PHONE, "light"), (PHONE, "dark"), (DESKTOP, "light"), (DESKTOP, "dark")):
        label = f"{'phone' if viewport is PHONE else 'desktop'}-{scheme}"
        context, page = _context(browser, site, role, viewport, scheme)
        try:
            for name, entry in pages:
                url = entry.url(site.ids)
                response = page.goto(url)
                page.wait_for_load_state()
                where = f"{role} {label} {url}"
                status = response.status if response else 0
                if status != EXPECTED_STATUS.get(name, 200):
                    problems.append(f"{where}: HTTP {status}")
                    continue
                theme = page.evaluate("() => document.documentElement.dataset.theme")
                if theme != scheme:
                    problems.append(f"{where}: theme {theme!r}, the system asks for {scheme}")
                if viewport is PHONE:
                    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
                    if width[0] > width[1]:
                        problems.append(f"{where}: scrolls sideways ({width[0]} px wide at {width[1]})")
                    off = page.evaluate(OFF_SCREEN)
                    if off:
                        problems.append(f"{where}: off screen: {off[:5]}")
                for v in violations(page):
                    problems.append(f"{where}: axe {v['impact']} {v['id']} ({v['help']}) at {v['targets']}")
                if entry.screenshot:
                    ARTIFACTS.mkdir(exist_ok=True)  # the first screen, as a person sees it on arrival
                    page.screenshot(path=str(ARTIFACTS / f"pages-{name.replace('.', '-')}-{role}-{label}.png"))
                if page.js_errors:
                    problems.append(f"{where}: script errors {page.js_errors}")
                    page.js_errors.clear()
        finally:
            context.close()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:80])


def test_reading_list_read_and_quiz_start_buttons_are_on_a_phone_screen(browser, site, screenshot):
    context, page = _context(browser, site, "agent_t1", PHONE, "light")
    try:
        for url, name in (("/reading-list", "Read"), ("/quizzes", "Start")):
            page.goto(url)
            buttons = page.locator("a.btn, button.btn").filter(has_text=name)
            assert buttons.count() > 0, f"no {name} button on {url}"
            for index in range(buttons.count()):
                box = buttons.nth(index).bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (url, index, box)
            # cards: each row shows its column headers as labels
            assert page.locator("td[data-label]").count() > 0
    finally:
        context.close()


def test_theme_toggle_switches_remembers_and_never_flashes(browser, site, screenshot):
    context, page = _context(browser, site, "trainer", DESKTOP, "light")
    try:
        page.goto("/coverage")
        assert page.evaluate("() => document.documentElement.dataset.theme") == "light"
        toggle = page.get_by_role("button", name="Switch to dark mode")
        toggle.focus()
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
        assert page.evaluate("() => localStorage.getItem('kb-theme')") == "dark"
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(30, 32, 41)"
        # The next page is dark before any script of its body runs: theme.js runs in <head>.
        page.goto("/coverage/overdue")
        first_paint = page.evaluate(
            "() => document.documentElement.dataset.theme + ' ' + getComputedStyle(document.body).backgroundColor"
        )
        assert first_paint == "dark rgb(30, 32, 41)"
        head_script = page.evaluate(
            "() => [...document.head.querySelectorAll('script')].map(s => [s.src.split('/').pop(), s.defer])"
        )
        assert ["theme.js", False] in head_script
        page.get_by_role("button", name="Switch to light mode").click()
        assert page.evaluate("() => localStorage.getItem('kb-theme')") == "light"
    finally:
        context.close()
    # A stored choice wins over the system's setting.
    dark_system, page = _context(browser, site, "trainer", DESKTOP, "dark")
    try:
        page.goto("/")
        assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
        page.evaluate("() => localStorage.setItem('kb-theme', 'light')")
        page.reload()
        assert page.evaluate("() => document.documentElement.dataset.theme") == "light"
    finally:
        dark_system.close()
