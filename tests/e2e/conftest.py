"""Browser fixtures: the real app served by waitress on a free port, and Debian's Chromium
driven by Playwright (never `playwright install`).

    @pytest.mark.browser
    def test_x(page, live_server): page.goto("/login"); ...   # page.goto is relative to the server

`shoot(page, name)` saves a full-page screenshot to test-artifacts/<name>.png.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class LiveServer:
    url: str
    app: object


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Not session-wide: a running Playwright owns the thread's
    event loop, and other tests start their own Playwright."""
    if not CHROMIUM.exists():
        if os.environ.get("KB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"KB_REQUIRE_BROWSER=1 but {CHROMIUM} is missing", pytrace=False)
        pytest.skip(f"browser tests need {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    """The test app (its own database and fake sites) served by waitress in a thread."""
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="kb-test")
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.effective_port}", app)
    server.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context per test; console errors collect in `page.console_errors`."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    yield page
    context.close()


def shoot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot():
    return shoot
