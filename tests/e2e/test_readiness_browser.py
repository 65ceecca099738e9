"""In a real Chromium: the LOB lead sees readiness and the crisis projection for every vendor; a
partner manager sees only their own vendor while another vendor's agents are on the roster.
Each page is screenshotted on a desktop and a phone and checked with axe-core (no serious or
critical violation)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from fixtures.crisis import T2_BULLETIN_TITLE, build_floor

pytestmark = pytest.mark.browser

AXE_CACHE = Path(__file__).resolve().parents[2] / "var" / "test-vendor" / "axe-core-readiness" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script, fetched once with `npm pack` (the npm registry's own client) and cached under var/."""
    if not AXE_CACHE.is_file():
        if shutil.which("npm") is None:
            pytest.fail("axe-core is not cached and npm is missing to fetch it", pytrace=False)
        AXE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            subprocess.run(
                ["npm", "pack", "axe-core@4", "--silent", "--pack-destination", work],
                cwd=work,
                check=True,
                capture_output=True,
                timeout=300,
            )
            [archive] = Path(work).glob("*.tgz")
            with tarfile.open(archive, "r:gz") as tar:
                member = tar.extractfile("package/axe.min.js")
                AXE_CACHE.write_bytes(member.read())
    return AXE_CACHE.read_text(encoding="utf-8")


def axe_violations(page, source: str) -> list[dict]:
    # Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not govern.
    page.evaluate(source + "\n;undefined")
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    return [v for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]


def sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email or employee id").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def look(page, name: str, screenshot, axe: str) -> None:
    """Screenshots at both sizes, and axe at each: the page must read well on a phone too."""
    for label, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.reload()
        screenshot(page, f"readiness-{name}-{label}")
        violations = axe_violations(page, axe)
        assert not violations, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in violations]


@pytest.fixture
def floor(engine, settings, sop_dir, make_user):
    return build_floor(engine, settings, sop_dir, make_user)


def test_the_lead_sees_readiness_and_the_crisis_projection(
    page, floor, make_user, default_password, screenshot, axe_source
):
    lead = make_user("lead", name="LOB lead")
    sign_in(page, lead.email, default_password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Readiness").click()
    expect(page.get_by_role("heading", name="Readiness", level=1)).to_be_visible()
    # 2 of 6 active agents are ready: the headline and the table agree.
    expect(page.locator(".stat").first).to_have_text("2")
    table = page.get_by_role("table").last
    for vendor in ("northwind-bpo", "apex-cx", "in-house"):
        expect(table.get_by_role("cell", name=vendor, exact=True)).to_be_visible()
    wave = page.get_by_role("region", name="Bulletin BUL-WAVE v1.0: Mass takeover wave")
    expect(wave).to_be_visible()
    expect(wave.locator("svg.projection")).to_have_attribute(
        "aria-label",
        re.compile(
            r"^BUL-WAVE: 3 of 6 acknowledged after 1\.5 hours; deadline at 4\.0 hours; "
            r"1\.0 per hour: full by \d\d:\d\d UTC \(3\.0 h\), after the deadline$"
        ),
    )
    expect(wave.locator("svg.projection line.projected--late")).to_have_count(1)
    rows = wave.get_by_role("row")
    expect(rows.filter(has_text="apex-cx")).to_contain_text("1.0 per hour")
    expect(rows.filter(has_text="northwind-bpo")).to_contain_text(
        "no acknowledgements in the last 60 minutes, cannot project"
    )
    expect(rows.filter(has_text="in-house")).to_contain_text("no acknowledgements yet, cannot project")
    expect(page.get_by_text(T2_BULLETIN_TITLE)).to_have_count(1)  # staff see Tier 2 names
    look(page, "lead", screenshot, axe_source)
    assert not page.console_errors


def test_a_partner_manager_sees_only_their_vendor(page, floor, make_user, default_password, screenshot, axe_source):
    manager = make_user("partner_manager", vendor="northwind-bpo")
    sign_in(page, manager.email, default_password)
    page.goto("/readiness")
    expect(page.get_by_role("heading", name="Readiness · northwind-bpo")).to_be_visible()
    body = page.locator("main")
    expect(body).to_contain_text("northwind-bpo")
    for other in ("apex-cx", "in-house", T2_BULLETIN_TITLE, "Investigator certification"):
        expect(body).not_to_contain_text(other)
    expect(page.locator(".stat").first).to_have_text("1")  # 1 of northwind's 3 agents is ready
    expect(page.get_by_role("textbox", name="Vendor")).to_have_count(0)
    response = page.goto("/readiness?vendor=apex-cx")
    assert response.status == 403
    page.console_errors.clear()  # the browser logs that expected 403
    page.goto("/readiness")
    look(page, "partner-manager", screenshot, axe_source)
    assert not page.console_errors
