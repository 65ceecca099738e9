"""The built sites in headless Chromium: Mermaid diagrams render offline, tier blocks are styled."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fixtures.sops import CORPUS, REPO_ROOT, SopDir
from kb_app.catalog import load_catalog, validate_catalog
from kb_app.sites import build_sites, ensure_mermaid

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
REQUIRED = os.environ.get("KB_REQUIRE_BROWSER") == "1"
# Material renders each diagram into a closed shadow root; open it so the test can look inside.
OPEN_SHADOW_ROOTS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) { return attach.call(this, { ...init, mode: "open" }); };
"""


def unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (KB_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def mermaid_js() -> Path:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed")
    asset, warning = ensure_mermaid(Path(os.environ.get("KB_VENDOR_DIR") or REPO_ROOT / "var" / "vendor"))
    if asset is None:
        unavailable(warning or "mermaid.js is not available")
    return asset.path


@contextlib.contextmanager
def serve(directory: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def offline_page():
    """A Chromium page that may only talk to 127.0.0.1; `page.external` lists what it tried."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            external: list[str] = []

            def route(r):
                if urlsplit(r.request.url).hostname == "127.0.0.1":
                    r.continue_()
                else:
                    external.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.add_init_script(OPEN_SHADOW_ROOTS)
            page.external = external
            yield page
        finally:
            browser.close()


def diagram_text(page) -> str:
    svg = page.locator(".mermaid svg").first
    svg.wait_for(state="attached", timeout=20_000)
    return svg.text_content() or ""


def test_escalation_diagram_renders_as_svg_without_the_network(tmp_path, mermaid_js):
    sop_dir = SopDir(tmp_path / "sop")
    sop_dir.write("ESC-THREAT-MGMT", kind="escalation")
    build_sites(sop_dir.root, tmp_path / "site", ["T1"], mermaid_js=mermaid_js)
    with serve(tmp_path / "site" / "T1") as base, offline_page() as page:
        page.goto(f"{base}/escalations/esc-threat-mgmt/")
        text = diagram_text(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "fixture-escalation-T1.png"), full_page=True)
        assert "Threat Management" in text and "Tier 1" in text and "Attacker still active after recovery" in text
        assert page.external == []  # no CDN: Material used the bundled mermaid


@pytest.mark.slow
def test_real_corpus_pages_render_with_diagram_header_and_tier_styles(tmp_path, mermaid_js):
    catalog = load_catalog(CORPUS)
    if not validate_catalog(catalog, against=None).ok:
        pytest.skip("the SOP corpus does not validate yet")
    escalation = next(s for s in catalog.for_tier("T1") if s.steps)
    tiered = next(s for s in catalog.for_tier("T1") if "/// tier | T2" in s.body and not s.steps)
    build_sites(CORPUS, tmp_path / "site", mermaid_js=mermaid_js)
    ARTIFACTS.mkdir(exist_ok=True)
    with offline_page() as page:
        with serve(tmp_path / "site" / "T1") as base:
            page.goto(f"{base}/{escalation.rel_path.removesuffix('.md')}/")
            assert escalation.steps[0].to_team in diagram_text(page)
            page.screenshot(path=str(ARTIFACTS / "real-escalation-T1.png"))
            page.locator(".mermaid").first.screenshot(path=str(ARTIFACTS / "real-escalation-diagram-T1.png"))
            page.goto(f"{base}/{tiered.rel_path.removesuffix('.md')}/")
            assert page.locator(".tier-t2").count() == 0
            page.screenshot(path=str(ARTIFACTS / "real-sop-T1.png"))
        with serve(tmp_path / "site" / "T2") as base:
            page.goto(f"{base}/{tiered.rel_path.removesuffix('.md')}/")
            header = page.locator(".kb-meta").first
            assert tiered.id in header.inner_text() and f"v{tiered.version}" in header.inner_text()
            header.screenshot(path=str(ARTIFACTS / "real-sop-header-T2.png"))
            block = page.locator(".admonition.tier-t2").first
            assert block.locator(".admonition-title").inner_text().strip() == "Tier 2 only"
            # --kb-purple, dark enough for text at 4.5:1
            assert block.evaluate("el => getComputedStyle(el).borderLeftColor") == "rgb(91, 33, 182)"
            block.screenshot(path=str(ARTIFACTS / "real-sop-tier2-block-T2.png"))
            page.screenshot(path=str(ARTIFACTS / "real-sop-T2.png"), full_page=True)
        assert page.external == []


def test_banner_slot_shows_the_web_apps_banner_and_search_can_go_to_the_server(tmp_path, mermaid_js):
    sop_dir = SopDir(tmp_path / "sop")
    sop_dir.write("ATO-RECOVERY")
    build_sites(sop_dir.root, tmp_path / "site", ["T1"], search_url="/find")
    with serve(tmp_path / "site" / "T1") as base, offline_page() as page:
        page.route(
            "**/api/v1/me/banner?*",
            lambda r: r.fulfill(
                status=200,
                content_type="application/json",
                body='{"text": "3 updates to acknowledge <b>now</b>", "level": "warning", "url": "/acks"}',
            ),
        )
        page.goto(f"{base}/procedures/ato-recovery/")
        slot = page.locator("#kb-banner [data-kb-user-banner]")
        slot.wait_for(state="visible")
        assert slot.inner_text() == "3 updates to acknowledge <b>now</b>"  # text, never HTML
        assert slot.get_attribute("data-level") == "warning"
        page.locator(".md-search__input").first.click()
        page.keyboard.type("sim swap")
        page.keyboard.press("Enter")
        page.wait_for_url("**/find?**")
        assert page.url == f"{base}/find?q=sim%20swap&audience=T1"


def test_without_the_web_app_the_banner_stays_hidden(tmp_path, mermaid_js):
    sop_dir = SopDir(tmp_path / "sop")
    sop_dir.write("ATO-RECOVERY")
    build_sites(sop_dir.root, tmp_path / "site", ["T1"])
    with serve(tmp_path / "site" / "T1") as base, offline_page() as page:
        page.goto(f"{base}/procedures/ato-recovery/")
        page.wait_for_load_state("networkidle")
        assert page.locator(".md-banner").first.is_hidden()
        assert page.locator("#kb-banner").get_attribute("data-empty") == ""
