"""Per-language sites: translated pages where current, source text where stale or missing, a
language switcher on every page, and no Tier 2-only text anywhere in a Tier 1 language site."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from fixtures.sops import SopDir
from tests.sites.test_sites import all_text, page
from tests.catalog.test_translations import T2_BODY, T2_TRANSLATED

from kb_app.sites import build_sites

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
TWO_VERSIONS = [
    {"version": "2.0", "date": "2026-05-01", "summary": "Two strong signals are now required, not one."},
    {"version": "1.0", "date": "2026-01-01", "summary": "First version."},
]
MINOR = [
    {"version": "1.1", "date": "2026-05-10", "summary": "Wording of step 2."},
    {"version": "1.0", "date": "2026-01-01", "summary": "First version."},
]


def write_translated_corpus(sops: SopDir) -> None:
    sops.write("ATO-RECOVERY", body=T2_BODY, related=["SIM-SWAP"])
    sops.translate("ATO-RECOVERY", "es", T2_TRANSLATED, title="Recuperación de cuentas hackeadas")
    sops.translate("ATO-RECOVERY", "tl", T2_TRANSLATED.replace("Solo Tier 2", "Tier 2 lamang"), title="Pagbawi")
    sops.write("SIM-SWAP", version="2.0", changelog=TWO_VERSIONS, body=T2_BODY)
    sops.translate("SIM-SWAP", "es", T2_TRANSLATED, title="Cambio de SIM (traducción antigua)")  # of 1.0: stale
    sops.write("SESSION-REVOCATION", version="1.1", changelog=MINOR)
    sops.translate("SESSION-REVOCATION", "es", title="Cierre de sesiones")  # of 1.0: minor-behind
    sops.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]}, title="Walrus ledger")
    sops.translate("T2-INFRA", "es", title="Libro mayor morsa")


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = tmp_path_factory.mktemp("lang-sites")
    sops = SopDir(root / "sop")
    write_translated_corpus(sops)
    site_dir = root / "site"
    result = build_sites(sops.root, site_dir, now=NOW)
    return site_dir, result


def test_each_audience_gets_a_site_per_translated_language(sites):
    site_dir, result = sites
    assert {b.key for b in result.builds} == {"T1", "T2", "T1.es", "T2.es", "T1.tl", "T2.tl"}
    for key in ("T1.es", "T2.tl"):
        assert (site_dir / key).is_symlink() and (site_dir / key / "index.html").is_file()
    assert set(result.to_dict()["audiences"]) == {"T1", "T2"}


def test_a_current_translation_is_served_with_its_own_hash_and_language(sites):
    site_dir, _ = sites
    html = page(site_dir / "T1.es", "procedures/ato-recovery.md")
    assert "Proteja la cuenta." in html and "Secure the account." not in html
    assert 'data-language="es"' in html and 'data-translation-state="current"' in html
    assert '<html lang="es"' in html
    manifest = json.loads((site_dir / "T1.es" / "kb-site.json").read_text())
    entry = next(p for p in manifest["pages"] if p["id"] == "ATO-RECOVERY")
    assert entry["language"] == "es" and entry["title"] == "Recuperación de cuentas hackeadas"
    english = json.loads((site_dir / "T1" / "kb-site.json").read_text())
    assert entry["content_hash"] != next(p for p in english["pages"] if p["id"] == "ATO-RECOVERY")["content_hash"]


def test_a_stale_translation_is_never_served_as_the_procedure_in_force(sites):
    site_dir, _ = sites
    html = page(site_dir / "T1.es", "procedures/sim-swap.md")
    assert "Secure the account." in html and "Proteja la cuenta." not in html  # the source text is served
    assert 'data-kb-translation-state="stale"' in html
    assert "está desactualizada" in html and "Two strong signals are now required, not one." in html
    assert 'data-language="en"' in html
    manifest = json.loads((site_dir / "T1.es" / "kb-site.json").read_text())
    entry = next(p for p in manifest["pages"] if p["id"] == "SIM-SWAP")
    assert entry["language"] == "en" and entry["translation_state"] == "stale"


def test_a_minor_behind_translation_is_shown_with_a_note(sites):
    site_dir, _ = sites
    html = page(site_dir / "T1.es", "procedures/session-revocation.md")
    assert "Proteja la cuenta." in html
    assert 'data-kb-translation-state="minor-behind"' in html and "Wording of step 2." in html


def test_a_missing_translation_falls_back_to_the_source_with_a_note(sites):
    site_dir, _ = sites
    html = page(site_dir / "T1.tl", "procedures/sim-swap.md")
    assert "Secure the account." in html and "Wala pang salin sa Tagalog" in html


def test_every_page_has_a_language_switcher_that_keeps_the_page(sites):
    site_dir, _ = sites
    for key in ("T1", "T1.es", "T2.tl"):
        for name, text in all_text(site_dir / key).items():
            if name.endswith("index.html") and not name.startswith(("assets", "search")):
                assert 'class="kb-language"' in text, (key, name)
    html = page(site_dir / "T1.es", "procedures/ato-recovery.md")
    assert 'href="?kb_lang=en"' in html and 'href="?kb_lang=tl"' in html
    assert 'aria-current="true">Español' in html


def test_tier1_language_sites_hold_no_tier2_only_text(sites):
    site_dir, _ = sites
    for key in ("T1.es", "T1.tl"):
        for name, text in all_text(site_dir / key).items():
            if name.startswith("assets/"):
                continue  # the theme's stylesheet names the tier-t2 box style
            for marker in ("Solo Tier 2", "Tier 2 lamang", "Tier 2 only:", "Libro mayor morsa", "t2-infra", "tier-t2"):
                assert marker not in text, (key, name, marker)
    assert "Solo Tier 2" in page(site_dir / "T2.es", "procedures/ato-recovery.md")
    assert "Libro mayor morsa" in page(site_dir / "T2.es", "procedures/t2-infra.md")


def test_a_right_to_left_language_site_renders_right_to_left(tmp_path):
    sops = SopDir(tmp_path / "sop")
    sops.write("ATO-RECOVERY")
    sops.translate(
        "ATO-RECOVERY", "ar", "## الغرض {#purpose}\n\nنص.\n\n## الخطوات {#steps}\n\n1. واحد.\n", title="استعادة الحساب"
    )
    build_sites(sops.root, tmp_path / "site", ["T1"], now=NOW)
    html = page(tmp_path / "site" / "T1.ar", "procedures/ato-recovery.md")
    assert 'dir="rtl"' in html and '<html lang="ar"' in html
    assert 'dir="rtl"' not in page(tmp_path / "site" / "T1", "procedures/ato-recovery.md").split("<body", 1)[1][:40]
