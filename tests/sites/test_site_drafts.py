"""Drafts in real MkDocs builds: never in an agents' site (nor a link to one), always in the
audience's preview build, marked as drafts; escalation steps carry their copyable case fields."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from fixtures.sops import ESCALATION_STEPS, SopDir
from kb_app.sites import SiteBuildError, build_sites
from kb_app.sites.staging import unlink_pages

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
DRAFT_WORD = "QUOKKAROUTE"  # only in the draft's text

ACTIVE_BODY = """## Purpose {#purpose}

Follow the new [callback rules](callback-rules.md#steps) once they are in force, and the
[escalation path](../escalations/esc-threat-mgmt.md).
"""

DRAFT_BODY = f"""## Steps {{#steps}}

Call back through the {DRAFT_WORD} queue.
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("drafts")
    sops = SopDir(root / "sop")
    sops.write("ATO-RECOVERY", body=ACTIVE_BODY, related=["CALLBACK-RULES"])
    sops.write("CALLBACK-RULES", body=DRAFT_BODY, title="Callback rules", status="draft")
    sops.write("ESC-THREAT-MGMT", kind="escalation", steps=ESCALATION_STEPS)
    result = build_sites(sops.root, root / "site", now=NOW, previews=True)
    return root / "site", result


def all_text(site):
    """Every text file of a build (what a reader's browser can fetch; the gzipped sitemap aside)."""
    return {
        p.relative_to(site).as_posix(): p.read_text(encoding="utf-8")
        for p in site.rglob("*")
        if p.is_file() and p.suffix in (".html", ".json", ".xml", ".txt", ".js", ".css")
    }


@pytest.mark.parametrize("tier", ["T1", "T2"])
def test_no_agents_site_holds_a_draft_or_a_link_to_one(built, tier):
    site, _ = built
    for name, text in all_text(site / tier).items():
        assert DRAFT_WORD not in text and "callback-rules" not in text, name
    page = (site / tier / "procedures" / "ato-recovery" / "index.html").read_text(encoding="utf-8")
    assert "new callback rules once" in page  # the link's text stays
    manifest = json.loads((site / tier / "kb-site.json").read_text(encoding="utf-8"))
    assert "CALLBACK-RULES" not in {p["id"] for p in manifest["pages"]}


@pytest.mark.parametrize("tier", ["T1", "T2"])
def test_each_preview_build_shows_the_drafts_marked(built, tier):
    site, result = built
    assert (site / f"preview-{tier}").is_symlink()
    draft = (site / f"preview-{tier}" / "procedures" / "callback-rules" / "index.html").read_text(encoding="utf-8")
    assert DRAFT_WORD in draft and "Draft: not in force" in draft and "kb-preview-note" in draft
    assert "Draft: Callback rules" in draft  # the navigation says so too
    ato = (site / f"preview-{tier}" / "procedures" / "ato-recovery" / "index.html").read_text(encoding="utf-8")
    assert 'href="../callback-rules/#steps"' in ato
    search = (site / f"preview-{tier}" / "search" / "search_index.json").read_text(encoding="utf-8")
    assert DRAFT_WORD in search and 'name="kb-search-url"' not in draft
    report = result.to_dict()
    assert set(report["audiences"]) == {"T1", "T2"} and report["sites"][f"preview-{tier}"]["preview"] is True


def test_escalation_steps_come_as_a_list_with_copyable_case_fields(built):
    site, _ = built
    page = (site / "T1" / "escalations" / "esc-threat-mgmt" / "index.html").read_text(encoding="utf-8")
    assert '<ol class="kb-step-list" aria-label="Escalation steps">' in page
    fields = ", ".join(ESCALATION_STEPS[0]["required_fields"])
    assert page.count(f'data-kb-copy="{fields}"') == 2  # in the list and in the table


def test_unlink_pages_keeps_the_text_of_links_to_hidden_pages_only():
    body = "See [a](x.md#s), [b](../escalations/y.md), ![img](x.md) and [c](z.md 'title')."
    hidden = {"procedures/x.md", "escalations/y.md"}
    assert unlink_pages(body, "procedures/p.md", hidden) == "See a, b, ![img](x.md) and [c](z.md 'title')."


def test_a_draft_url_left_in_an_agents_site_fails_the_build(tmp_path, monkeypatch):
    sops = SopDir(tmp_path / "sop")
    sops.write("ATO-RECOVERY", body="## Purpose {#purpose}\n\nSee <a href='../callback-rules/'>the rules</a>.\n")
    sops.write("CALLBACK-RULES", body=DRAFT_BODY, status="draft")
    with pytest.raises(SiteBuildError) as raised:
        build_sites(sops.root, tmp_path / "site", ["T1"], now=NOW)
    assert "would leak a draft" in str(raised.value)
    assert not (tmp_path / "site" / "T1").exists()
