"""Real MkDocs sites served by the app: every page carries the reader's app bar, drafts stay out
of the agents' sites and search, and the preview builds (drafts marked) are for trainers and admins."""

from __future__ import annotations

import re
import time

import pytest

from fixtures.sops import SopDir
from kb_app.search import build_index
from kb_app.sites import build_sites

ACTIVE = """## When this applies {#when-this-applies}

The customer says their account was hacked. The new draft [callback rules](callback-rules.md#steps) are not in force.

## Reply {#reply}

Say: "I'm sorry this happened. I'm going to help you get back into your account today."
"""

DRAFT = """## Steps {#steps}

Call the customer back on the zebrafish line before any reset.
"""

T2_ONLY = """## Ledger {#ledger}

Investigators reconcile the walrus ledger.
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("site-app")
    sops = SopDir(root / "sop")
    sops.write("ATO-RECOVERY", body=ACTIVE, title="Hacked account recovery")
    sops.write("CALLBACK-RULES", body=DRAFT, title="Zebrafish callback rules", status="draft")
    sops.write("T2-LEDGER", body=T2_ONLY, title="Walrus ledger", visibility="t2_only", audience={"tiers": ["T2"]})
    build_sites(sops.root, root / "site", search_url="/search", previews=True)
    build_index(sops.root, root / "index")
    return root


@pytest.fixture
def settings(settings, built):
    return settings.replace(site_dir=built / "site", index_dir=built / "index")


def text(response) -> str:
    return response.get_data(as_text=True)


def app_bar(page: str) -> str:
    found = re.search(r'<div class="kb-app".*?</nav>.*?</form>', page, re.S)
    assert found, "no app bar on the page"
    return found.group(0)


def test_an_agent_page_carries_the_app_bar_with_their_name_and_links(client, auth):
    agent = auth.login_as("agent", tier="T1")
    page = text(client.get("/sop/procedures/ato-recovery/"))
    bar = app_bar(page)
    assert agent.display_name in bar and "<!--kb:app-bar-->" not in page
    for label, href in (
        ("Home", "/"),
        ("Search", "/search"),
        ("Reading list", "/reading-list"),
        ("Quizzes", "/quizzes"),
    ):
        assert re.search(rf'<a href="{re.escape(href)}"[^>]*>{label}</a>', bar), label
    assert re.search(r'<a href="/sop/" aria-current="page">SOPs</a>', bar)
    assert 'data-search-api="/api/v1/search"' in bar and 'name="csrf_token"' in bar
    for staff in ("Coverage", "Publish", "Roster", "Search analytics", "Drafts preview", "Audit log"):
        assert f">{staff}</a>" not in bar
    assert '<a href="/" title=' in page  # the site's logo goes to the app's Home


def test_the_static_build_has_no_names_and_no_role_links(built):
    page = (built / "site" / "T1" / "procedures" / "ato-recovery" / "index.html").read_text(encoding="utf-8")
    assert "<!--kb:app-bar-->" in page and 'class="kb-app"' not in page and "Coverage" not in page


def test_staff_get_their_own_links_on_the_site(client, auth):
    auth.login_as("trainer")
    bar = app_bar(text(client.get("/sop/")))
    for staff in ("Coverage", "Publish", "Search analytics", "Roster", "Drafts preview"):
        assert f">{staff}</a>" in bar, staff
    assert ">Reading list</a>" not in bar


def test_a_partner_manager_reads_tier1_with_no_tier2_name(client, auth):
    auth.login_as("partner_manager")
    page = text(client.get("/sop/"))
    assert ">Coverage</a>" in app_bar(page) and "Drafts preview" not in page
    assert "Walrus" not in page and "walrus" not in page
    assert client.get("/sop-preview/T1/").status_code == 403


def test_drafts_are_in_no_agents_site_and_no_search(client, auth):
    auth.login_as("agent", tier="T1")
    assert client.get("/sop/procedures/callback-rules/").status_code == 404
    page = text(client.get("/sop/procedures/ato-recovery/"))
    assert "callback rules" in page and "callback-rules" not in page  # the link's text stays, not its target
    assert "Zebrafish" not in text(client.get("/sop/"))
    assert "zebrafish" not in text(client.get("/sop/search/search_index.json")).lower()
    found = client.get("/api/v1/search?q=zebrafish").get_json()
    assert found["total"] == 0 and not any(r["sop_id"] == "CALLBACK-RULES" for r in found["results"])
    assert client.get("/sop-preview/T1/").status_code == 403


@pytest.mark.parametrize("role", ["trainer", "admin"])
def test_trainers_and_admins_preview_drafts_clearly_marked(client, auth, role):
    auth.login_as(role)
    for tier in ("T1", "T2"):
        page = text(client.get(f"/sop-preview/{tier}/procedures/callback-rules/"))
        assert "Zebrafish callback rules" in page and "Draft: not in force" in page
        assert "Preview for the training team" in page and "kb-meta--draft" in page
        assert "Draft: Zebrafish callback rules" in page  # in the navigation, too
        assert 'data-search-api=""' in app_bar(page)  # the preview keeps its own search, which has the drafts
    assert "Walrus" not in text(client.get("/sop-preview/T1/"))
    assert "Walrus" in text(client.get("/sop-preview/T2/"))
    assert client.get("/sop-preview/T3/").status_code == 404
    assert client.get("/sop-preview/T1/../T2/procedures/t2-ledger/").status_code == 404


def test_site_pages_are_conditional_per_reader(client, auth):
    auth.login_as("agent", tier="T1")
    first = client.get("/sop/")
    assert first.headers["Cache-Control"] == "private, no-cache" and "Cookie" in first.headers["Vary"]
    again = client.get("/sop/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    # The sign-out form's CSRF token is signed anew each second; the page is still the same page.
    time.sleep(1.1)
    later = client.get("/sop/", headers={"If-None-Match": first.headers["ETag"]})
    assert later.status_code == 304
    fresh = client.get("/sop/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]{20,})"', fresh)
    assert "\x00" not in fresh and token
    # ... and that token signs the reader out.
    assert client.post("/logout", data={"csrf_token": token.group(1)}).status_code in (302, 303)
    assert client.get("/sop/").status_code in (302, 401)
    assert "script-src 'self' 'sha256-" in first.headers["Content-Security-Policy"]
