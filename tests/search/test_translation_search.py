"""Search per language: the reader's language analyzer over servable translations first, the
source language as the fallback, audience rules unchanged (no Tier 2 text in a Tier 1 index)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fixtures.sops import SopDir
from tests.sites.test_translation_sites import write_translated_corpus

from kb_app.search import build_index
from kb_app.search.languages import language_analyzer
from kb_app.search.service import SearchService

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("lang-index")
    sops = SopDir(root / "sop")
    write_translated_corpus(sops)
    build_index(sops.root, root / "index", now=NOW)
    svc = SearchService(root / "index", clock=lambda: NOW)
    yield svc, root / "index"
    svc.close()


def test_spanish_words_match_through_the_spanish_stemmer(service):
    svc, _ = service
    results = svc.search("protejan cuentas", tier="T1", language="es")
    assert results.hits and results.hits[0].language == "es"
    assert results.hits[0].sop_id == "ATO-RECOVERY" and results.hits[0].anchor == "steps"
    assert "<mark>" in results.hits[0].snippet and results.language == "es"


def test_stale_translations_are_not_searched_and_the_source_fills_in(service):
    svc, _ = service
    results = svc.search("secure account", tier="T1", language="es")
    by_sop = {(h.sop_id, h.language) for h in results.hits}
    assert ("SIM-SWAP", "en") in by_sop  # its Spanish text is stale: only the source is found
    assert ("SIM-SWAP", "es") not in by_sop


def test_without_a_language_the_search_is_unchanged(service):
    svc, _ = service
    plain = svc.search("proteja la cuenta", tier="T1")
    assert all(h.language == "en" for h in plain.hits)


def test_tier1_language_index_holds_no_tier2_text(service):
    svc, index_dir = service
    assert not svc.search("solo tier asn atacante", tier="T1", language="es").hits or all(
        "ASN" not in h.snippet for h in svc.search("asn atacante", tier="T1", language="es").hits
    )
    build = next((index_dir / "builds").iterdir())
    for name in ("T1.es", "T1.tl"):
        for file in (build / name).iterdir():
            data = file.read_bytes()
            for marker in (b"Solo Tier 2", b"Tier 2 lamang", b"ASN", b"morsa", b"T2-INFRA"):
                assert marker not in data, (name, file.name, marker)
    assert svc.search("asn atacante", tier="T2", language="es").hits[0].language == "es"


def test_tagalog_has_no_whoosh_stemmer_and_matches_words():
    tokens = [t.text for t in language_analyzer("tl")("Tulungan ang customer")]
    assert tokens == ["tulungan", "ang", "customer"]
    assert [t.text for t in language_analyzer("es")("las cuentas hackeadas")] == ["cuent", "hack"]


def test_grouped_search_puts_the_readers_language_first_one_card_per_sop(service):
    svc, _ = service
    results = svc.search("protejan cuentas", tier="T1", language="es", group="sop")
    assert results.groups and results.language == "es"
    first = results.groups[0]
    assert (first.sop_id, first.language) == ("ATO-RECOVERY", "es")
    assert first.sections[0].anchor == "steps" and "<mark>" in first.sections[0].snippet
    ids = [group.sop_id for group in results.groups]
    assert len(ids) == len(set(ids))  # a translated SOP is not listed again in English
    assert results.hits == [hit for group in results.groups for hit in group.sections]
    assert results.total_sops >= len(results.groups)
