"""The static sites: real MkDocs builds of a small corpus for Tier 1 and Tier 2."""

from __future__ import annotations

import gzip
import html
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fixtures.sops import CORPUS, ESCALATION_STEPS, SopDir
from kb_app.catalog import load_catalog, validate_catalog
from kb_app.catalog.sections import MARKDOWN_EXTENSIONS, find_tier_blocks
from kb_app.cli import main
from kb_app.sites import SiteBuildError, build_sites

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
T2_SECRET = "PURPLEWALRUS infrastructure ledger"  # only in a t2_only page
T2_BLOCK_SECRET = "ZEBRACLUSTER autonomous system list"  # only in a T2 tier block

ATO_BODY = f"""Lead paragraph about recovery.

## Verify ownership {{#verify-ownership}}

Ask for two signals, then follow the [Threat Management path](../escalations/esc-threat-mgmt.md#purpose).

/// tier | T2
### Infrastructure check {{#infra-check}}
Compare the login network with the {T2_BLOCK_SECRET}. See [attacker infrastructure](t2-infra.md#purpose).
///

=== "Phone"

    Keep the customer on the line.

=== "Chat"

    Send codes one at a time.

!!! warning "Never ask for passwords"
    Never ask for the password.

## Decision table

| signal | weight |
| --- | --- |
| device | strong |
"""

T2_BODY = f"""## Purpose {{#purpose}}

Tier 2 investigators keep the {T2_SECRET} current.

## Steps {{#steps}}

1. Open the ledger.
"""

STEPS = ESCALATION_STEPS + [
    {
        "trigger": "Coordinated campaign across five accounts",
        "from_tier": "T2",
        "to_team": "Policy",
        "channel": "Policy exception form",
        "sla": "2d",
        "required_fields": ["case_id", "linked_case_ids"],
    }
]


def write_corpus(sop_dir: SopDir) -> None:
    sop_dir.write(
        "ATO-RECOVERY",
        body=ATO_BODY,
        version="2.0",
        owner="Training",
        audience={"tiers": ["T1", "T2"], "vendors": ["ACME"], "languages": ["en", "es"]},
        tags=["ato", "recovery"],
        escalation=["ESC-THREAT-MGMT"],
        related=["SIM-SWAP"],
        changelog=[
            {
                "version": "2.0",
                "date": "2026-10-01",
                "summary": "Two strong signals are now required.",
                "ack_required": True,
            },
            {"version": "1.1", "date": "2026-03-02", "summary": "Clarified the device check."},
            {"version": "1.0", "date": "2025-02-10", "summary": "First published version."},
        ],
    )
    sop_dir.write(
        "SIM-SWAP",
        review_by="2026-02-01",
        tags=["sim"],
        changelog=[{"version": "1.0", "date": "2026-05-05", "summary": "SIM swap first version."}],
    )
    sop_dir.write("OLD-PROC", status="retired", tags=["legacy"])
    sop_dir.write("ESC-THREAT-MGMT", kind="escalation", steps=STEPS, tags=["escalation"])
    sop_dir.write(
        "T2-INFRA",
        visibility="t2_only",
        audience={"tiers": ["T2"]},
        body=T2_BODY,
        tags=["t2-internal"],
        title="Investigating the walrus ledger",
    )
    sop_dir.write(
        "BUL-2026-11-MASS-ATO",
        kind="bulletin",
        expires="2099-12-05T00:00:00Z",
        tags=["incident"],
        title="Mass takeover wave",
    )


def fake_mermaid(tmp: Path) -> Path:
    path = tmp / "mermaid.min.js"
    path.write_text("/* stand-in for mermaid.min.js */\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both sites of the fixture corpus, built once for the module."""
    root = tmp_path_factory.mktemp("sites")
    sop_dir = SopDir(root / "sop")
    write_corpus(sop_dir)
    site_dir = root / "site"
    result = build_sites(sop_dir.root, site_dir, mermaid_js=fake_mermaid(root), now=NOW)
    return load_catalog(sop_dir.root), site_dir, result


def page(site: Path, rel_path: str) -> str:
    return (site / rel_path.removesuffix(".md") / "index.html").read_text(encoding="utf-8")


def all_text(site: Path) -> dict[str, str]:
    """Every output file as text (gzip files unpacked), by path."""
    out = {}
    for file in site.rglob("*"):
        if file.is_file():
            raw = file.read_bytes()
            if file.suffix == ".gz":
                raw = gzip.decompress(raw)
            out[str(file.relative_to(site))] = raw.decode("utf-8", errors="replace")
    return out


def ids_in(document: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', document))


# --- audience separation -------------------------------------------------------------------------


def test_t1_site_contains_no_t2_only_page_and_no_tier2_text(built):
    _, site, _ = built
    t1 = site / "T1"
    assert not (t1 / "procedures" / "t2-infra").exists()
    files = all_text(t1)
    assert "search/search_index.json" in files and "sitemap.xml" in files
    for name, text in files.items():
        for secret in (T2_SECRET, T2_BLOCK_SECRET, "T2-INFRA", "t2-infra", "walrus ledger", "Infrastructure check"):
            assert secret not in text, f"{secret!r} leaked into T1 {name}"
        if name.endswith((".html", ".json", ".xml")):
            assert "tier-t2" not in text, name


def test_t2_site_has_every_page_and_the_tier2_blocks_boxed(built):
    _, site, _ = built
    t2 = site / "T2"
    assert T2_SECRET in page(t2, "procedures/t2-infra.md")
    ato = page(t2, "procedures/ato-recovery.md")
    block = re.search(r'<div class="admonition tier-t2">(.*?)</div>', ato, re.S)
    assert block and "Tier 2 only" in block.group(1) and T2_BLOCK_SECRET in block.group(1)
    search_index = (t2 / "search" / "search_index.json").read_text(encoding="utf-8")
    assert T2_SECRET in search_index and T2_BLOCK_SECRET in search_index


def test_every_catalog_section_anchor_is_an_id_in_the_built_page(built):
    catalog, site, _ = built
    checked = 0
    for tier in ("T1", "T2"):
        for sop in catalog.for_tier(tier):
            ids = ids_in(page(site / tier, sop.rel_path))
            anchors = {s.anchor for s in sop.sections_for(tier) if s.anchor}
            assert anchors <= ids, f"{tier} {sop.id}: missing {anchors - ids}"
            checked += len(anchors)
    assert "infra-check" in ids_in(page(site / "T2", "procedures/ato-recovery.md"))
    assert checked > 10


def test_site_markdown_extensions_keep_the_catalog_anchor_extensions():
    config = yaml.load((Path(__file__).parents[2] / "mkdocs.yml").read_text(), Loader=yaml.UnsafeLoader)
    names = [next(iter(e)) if isinstance(e, dict) else e for e in config["markdown_extensions"]]
    assert set(MARKDOWN_EXTENSIONS) <= set(names)
    assert config["theme"]["font"] is False and config["use_directory_urls"] is True


# --- pages ---------------------------------------------------------------------------------------


def test_header_card_shows_id_version_status_dates_owner_and_audience(built):
    _, site, _ = built
    ato = page(site / "T1", "procedures/ato-recovery.md")
    card = re.search(r'<div class="kb-meta kb-meta--active".*?</dl>', ato, re.S).group(0)
    assert "ATO-RECOVERY" in card and "v2.0" in card
    assert 'kb-chip--status kb-chip--active">Active<' in card
    assert ">Training<" in card and "2026-01-01" in card and "2099-01-01" in card
    assert "Tier 1 and Tier 2 · vendors: ACME · languages: en, es" in card
    assert ato.index("<h1>") < ato.index('class="kb-meta') < ato.index('id="verify-ownership"')
    assert '<meta name="kb-sop" content="ATO-RECOVERY" data-version="2.0"' in ato


def test_retired_and_stale_pages_are_marked(built):
    _, site, _ = built
    retired = page(site / "T1", "procedures/old-proc.md")
    assert "kb-meta--retired" in retired and "kb-chip--retired" in retired and "no longer in force" in retired
    stale = page(site / "T1", "procedures/sim-swap.md")
    assert "Review overdue" in stale and "kb-meta__value--stale" in stale


def test_changelog_renders_as_a_table_with_the_acknowledgement_marker(built):
    _, site, _ = built
    ato = page(site / "T1", "procedures/ato-recovery.md")
    changelog = ato[ato.index('id="kb-changelog"') :]
    rows = re.findall(r"<tr>(.*?)</tr>", changelog, re.S)
    assert "Version" in rows[0] and "Acknowledgement" in rows[0]
    assert (
        "<strong>2.0</strong> (current)" in rows[1]
        and "2026-10-01" in rows[1]
        and 'class="kb-ack"' in rows[1]
        and ">Required<" in rows[1]
    )
    assert "1.1" in rows[2] and "kb-ack--none" in rows[2]
    assert len(rows) == 4


def test_escalation_page_draws_its_steps_as_mermaid_and_a_table(built):
    _, site, _ = built
    esc = page(site / "T1", "escalations/esc-threat-mgmt.md")
    source = html.unescape(re.search(r'<pre class="mermaid"><code>(.*?)</code></pre>', esc, re.S).group(1))
    assert source.startswith("flowchart LR")
    assert '"1. Attacker still active after recovery"' in source
    assert 'tier_T1 -->|"1. Case queue ATO-Threat<br/>SLA 4h"| team_threat_management' in source
    assert 'tier_T2 -->|"2. Policy exception form<br/>SLA 2d"| team_policy' in source
    steps = esc[esc.index('id="kb-escalation-steps"') :]
    assert "Tier 1 → Threat Management" in steps and "4 hours" in steps and ">linked_case_ids</code>" in steps
    # The page loads the bundled mermaid, so Material never fetches its CDN copy.
    assert '<script src="../../assets/vendor/mermaid/mermaid.min.js"></script>' in esc
    assert (site / "T1" / "assets" / "vendor" / "mermaid" / "mermaid.min.js").is_file()
    assert "mermaid.min.js" not in page(site / "T1", "procedures/ato-recovery.md")


def test_index_pages_exist_and_list_the_pages_of_the_audience(built):
    catalog, site, _ = built
    for tier in ("T1", "T2"):
        home = (site / tier / "index.html").read_text(encoding="utf-8")
        for sop in catalog.for_tier(tier):
            assert f'href="{sop.rel_path.removesuffix(".md")}/"' in home, (tier, sop.id)
        for name in ("by-tag", "by-tier", "escalation-directory", "recent-changes"):
            assert f'href="{name}/"' in home
            assert (site / tier / name / "index.html").is_file()
    t1_tags = page(site / "T1", "by-tag.md")
    assert "recovery" in t1_tags and "t2-internal" not in t1_tags
    assert "t2-internal" in page(site / "T2", "by-tag.md")
    assert "Tier 2 only pages" in page(site / "T2", "by-tier.md")


def test_escalation_directory_lists_every_path_with_teams_and_slas(built):
    _, site, _ = built
    directory = page(site / "T1", "escalation-directory.md")
    assert (
        'id="esc-threat-mgmt"' in directory
        and 'id="team-threat-management"' in directory
        and 'id="team-policy"' in directory
    )
    assert "4 hours" in directory and "2 days" in directory and "Policy exception form" in directory
    assert "ATO-RECOVERY" in directory  # used by


def test_recent_changes_are_newest_first_and_open_bulletins_are_highlighted(built):
    _, site, _ = built
    changes = page(site / "T1", "recent-changes.md")
    dates = re.findall(r"<td>(\d{4}-\d{2}-\d{2})</td>", changes)
    assert dates == sorted(dates, reverse=True) and dates[0] == "2026-10-01"
    home = (site / "T1" / "index.html").read_text(encoding="utf-8")
    bulletin = re.search(r'<div class="admonition danger">(.*?)</div>', home, re.S).group(1)
    assert "Mass takeover wave" in bulletin
    assert 'class="kb-banner__bulletin" href="bulletins/bul-2026-11-mass-ato/"' in home


def test_links_are_relative_and_the_banner_has_an_extension_point(built):
    _, site, _ = built
    ato = page(site / "T1", "procedures/ato-recovery.md")
    assert 'href="../../escalations/esc-threat-mgmt/#purpose"' in ato
    # The logo (in the header and atop the drawer) is the one link out of the site: the app's Home.
    logo = re.compile(r'<a href="/" title="[^"]*" class="md-(?:header__button|nav__button) md-logo"')
    assert logo.search(ato)
    for name, text in all_text(site / "T1").items():
        if name.endswith(".html") and name != "404.html":
            assert not re.search(r'(?:href|src)="/(?!/)', logo.sub("", text)), name
    assert 'id="kb-banner"' in ato and 'data-kb-banner-endpoint="/api/v1/me/banner"' in ato
    assert '<script src="../../assets/kb/kb.js"></script>' in ato
    assert "fonts.googleapis" not in ato


def test_manifest_ties_each_page_to_the_hash_its_tier_reads(built):
    catalog, site, _ = built
    manifest = json.loads((site / "T1" / "kb-site.json").read_text(encoding="utf-8"))
    entries = {p["id"]: p for p in manifest["pages"]}
    assert "T2-INFRA" not in entries
    assert entries["ATO-RECOVERY"]["content_hash"] == catalog.get("ATO-RECOVERY").content_hash_for("T1")
    assert entries["ATO-RECOVERY"]["url"] == "procedures/ato-recovery/"


def test_each_site_is_a_symlink_swapped_in_with_no_leftovers(built):
    _, site, result = built
    assert [b.tier for b in result.builds] == ["T1", "T2"]
    for tier in ("T1", "T2"):
        assert (site / tier).is_symlink() and (site / tier / "index.html").is_file()
    assert sorted(p.name.split("-")[0] for p in (site / ".builds").iterdir()) == ["T1", "T2"]


# --- failures ------------------------------------------------------------------------------------


def test_broken_link_fails_the_build_and_keeps_the_previous_site(sop_dir, tmp_path):
    sop_dir.write("ATO-RECOVERY")
    site = tmp_path / "site"
    build_sites(sop_dir.root, site, ["T1"], now=NOW)
    previous = (site / "T1").resolve()
    # The validator accepts a link to an existing folder; MkDocs cannot resolve it.
    path = sop_dir.write("SIM-SWAP", body="## Purpose {#purpose}\n\nSee [every procedure](../procedures/).\n")
    with pytest.raises(SiteBuildError) as raised:
        build_sites(sop_dir.root, site, ["T1"], now=NOW)
    message = str(raised.value)
    assert "T1 site failed to build" in message and "'../procedures/'" in message
    [problem] = raised.value.problems
    assert (
        problem.path == str(path)
        and problem.line == path.read_text().splitlines().index("See [every procedure](../procedures/).") + 1
    )
    assert (site / "T1").resolve() == previous and (previous / "procedures" / "ato-recovery" / "index.html").is_file()
    assert list((site / ".builds").iterdir()) == [previous]


def test_a_validation_error_prevents_any_build(sop_dir, tmp_path):
    sop_dir.write("ATO-RECOVERY", related=["NO-SUCH-SOP"])
    site = tmp_path / "site"
    with pytest.raises(SiteBuildError) as raised:
        build_sites(sop_dir.root, site, now=NOW)
    assert any("NO-SUCH-SOP" in p.message for p in raised.value.problems)
    assert not site.exists()


def test_without_mermaid_the_diagram_source_stays_visible(sop_dir, tmp_path):
    sop_dir.write("ESC-THREAT-MGMT", kind="escalation")
    build_sites(sop_dir.root, tmp_path / "site", ["T1"], mermaid_js=None, now=NOW)
    esc = page(tmp_path / "site" / "T1", "escalations/esc-threat-mgmt.md")
    assert 'class="mermaid"' not in esc and "mermaid.min.js" not in esc
    assert "flowchart LR" in esc and "Diagram source" in esc


# --- command line --------------------------------------------------------------------------------


def test_cli_builds_one_audience_and_reports_json(sop_dir, tmp_path):
    write_corpus(sop_dir)
    site = tmp_path / "site"
    env = {"KB_VENDOR_DIR": str(tmp_path / "vendor")}
    result = CliRunner().invoke(
        main,
        [
            "build-site",
            "--sop-dir",
            str(sop_dir.root),
            "--site-dir",
            str(site),
            "--audience",
            "T1",
            "--offline",
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and list(report["audiences"]) == ["T1"] and report["audiences"]["T1"]["pages"] == 10
    assert report["diagrams"] is False and report["mermaid"] is None
    assert "building T1 site: 10 pages ..." in result.stderr
    assert "warning: mermaid.js is not in" in result.stderr
    assert (site / "T1").is_dir() and not (site / "T2").exists()


def test_cli_prints_validation_problems_as_path_line_and_exits_1(sop_dir, tmp_path):
    path = sop_dir.write("ATO-RECOVERY", related=["NO-SUCH-SOP"])
    result = CliRunner().invoke(
        main,
        ["build-site", "--sop-dir", str(sop_dir.root), "--site-dir", str(tmp_path / "site"), "--offline"],
        env={"KB_VENDOR_DIR": str(tmp_path / "vendor")},
    )
    assert result.exit_code == 1
    line = path.read_text().splitlines().index("related:") + 2
    assert f"{path}:{line}: error: related names NO-SUCH-SOP, which does not exist" in result.stderr
    assert "no site written" in result.stderr
    assert not (tmp_path / "site").exists()


# --- the real corpus -----------------------------------------------------------------------------


def _phrases(text: str, size: int = 6) -> set[str]:
    """Runs of `size` plain words: a fingerprint of a text that survives Markdown rendering."""
    phrases = set()
    for line in text.splitlines():
        run: list[str] = []
        for word in [*re.sub(r"[*_`\[\]()#>|!]", " ", line).split(), ""]:
            if re.fullmatch(r"[A-Za-z]+[,.]?", word):
                run.append(word.rstrip(",."))
                continue
            phrases.update(" ".join(run[i : i + size]) for i in range(0, len(run) - size + 1, size))
            run = []
    return phrases


@pytest.mark.slow
def test_real_corpus_tier1_site_has_none_of_the_tier2_text(tmp_path):
    catalog = load_catalog(CORPUS)
    if not validate_catalog(catalog, against=None).ok:
        pytest.skip("the SOP corpus does not validate yet")
    build_sites(CORPUS, tmp_path / "site", mermaid_js=fake_mermaid(tmp_path))
    t1_visible = set().union(*(_phrases(s.text_for("T1")) for s in catalog.for_tier("T1")))
    secret: set[str] = set()
    for sop in catalog:
        if not sop.visible_to("T1"):
            secret |= _phrases(sop.body)
        else:
            lines = sop.body.splitlines()
            blocks, _ = find_tier_blocks(sop.body)
            for block in blocks:
                if "T1" not in block.tiers:
                    secret |= _phrases("\n".join(lines[block.start : block.end - 1]))
    secret -= t1_visible
    assert secret, "the corpus has no Tier 2 only text to check"

    def plain(text: str) -> str:
        return " ".join(re.sub(r"<[^>]+>|[.,]", " ", html.unescape(text)).split())

    t1 = " ".join(plain(t) for t in all_text(tmp_path / "site" / "T1").values())
    t2 = " ".join(plain(t) for t in all_text(tmp_path / "site" / "T2").values())
    assert not {p for p in secret if p in t1}
    assert len({p for p in secret if p in t2}) >= len(secret) * 0.9  # the fingerprint does match rendered text
    for sop in catalog:
        if not sop.visible_to("T1"):
            assert not (tmp_path / "site" / "T1" / sop.rel_path.removesuffix(".md")).exists()
            assert sop.title not in t1


def test_cli_without_npm_still_builds_and_warns(sop_dir, tmp_path):
    sop_dir.write("ESC-THREAT-MGMT", kind="escalation")
    env = {"KB_VENDOR_DIR": str(tmp_path / "vendor"), "KB_NPM": str(tmp_path / "no-npm-here")}
    result = CliRunner().invoke(
        main,
        ["build-site", "--sop-dir", str(sop_dir.root), "--site-dir", str(tmp_path / "site"), "--audience", "T1"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "no-npm-here` was not found" in result.stderr and "diagrams show their source instead" in result.stderr
    assert "flowchart LR" in page(tmp_path / "site" / "T1", "escalations/esc-threat-mgmt.md")
    vendor = CliRunner().invoke(main, ["vendor-assets"], env=env)
    assert vendor.exit_code == 1 and "install Node.js and npm" in vendor.stderr
