"""Audience safety: Tier 1 search never reveals Tier 2 material, however the query is written.

The strongest check is non-interference: Tier 1 results from the full corpus must be exactly
the Tier 1 results from a corpus with every Tier 2 part deleted (same hits, snippets, scores,
counts, facets, suggestions, pins). Whatever Tier 2 text says, a Tier 1 reader cannot tell.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.sops import SopDir
from kb_app.search import SearchService, build_index
from fixtures.search import NOW, T2_SECRETS, write_corpus

PROBES = [
    "quokka",
    "quokka ledger",
    '"quokka ledger"',
    '"employee collusion"',
    "collusion",
    "Marmalade protocol",
    "marmalade",
    "T2-INSIDER-RISK",
    "t2 insider risk",
    "id:T2-INSIDER-RISK",
    "id:T2-*",
    "id:t2-insider-risk collusion",
    "tier:T2",
    "tier:T2 quokka",
    "tier:2 collusion",
    "tag:insider-risk",
    "tag:tier2",
    "kind:sop quokka",
    "quok*",
    "collu*",
    "marma*",
    "quoka",
    "colusion",
    "marmalde",
    "quokkas",
    "zebralineage",
    "gondolier sessions",
    "zebralin*",
    "gondoleir",
    "insider risk",
    "status:active marmalade",
    "*",
    "quokka OR collusion AND tier:T2",
    '"trace the gondolier sessions back"',
    "verify ownership",
    "session",
    "account",
]


def _comparable(results) -> dict:
    data = dataclasses.asdict(results)
    for volatile in ("build_id", "elapsed_ms"):
        data.pop(volatile)
    data["hits"] = [{**hit, "score": round(hit["score"], 4)} for hit in data["hits"]]
    return data


@pytest.fixture(scope="module")
def tier1_only_service(tmp_path_factory):
    """The same corpus with every Tier 2 part removed, indexed on its own."""
    root = tmp_path_factory.mktemp("t1only")
    sop_dir = SopDir(root / "sop")
    write_corpus(sop_dir, with_tier2=False)
    build_index(sop_dir.root, root / "index")
    service = SearchService(root / "index", clock=lambda: NOW)
    yield service
    service.close()


def _assert_no_secret(results, query: str) -> None:
    hidden = json.dumps(
        {k: v for k, v in dataclasses.asdict(results).items() if k not in ("query", "filters")}, default=str
    ).lower()
    for secret in T2_SECRETS:
        if secret.lower() not in query.lower():
            assert secret.lower() not in hidden, f"{secret!r} leaked for query {query!r}"
    assert all(hit.sop_id != "T2-INSIDER-RISK" for hit in results.hits)


@pytest.mark.parametrize("query", PROBES)
def test_tier1_results_do_not_depend_on_tier2_material(service, tier1_only_service, query):
    assert _comparable(service.search(query, tier="T1", limit=50)) == _comparable(
        tier1_only_service.search(query, tier="T1", limit=50)
    )


@pytest.mark.parametrize("query", PROBES)
def test_tier1_never_sees_tier2_words_ids_or_tags(service, query):
    _assert_no_secret(service.search(query, tier="T1", limit=100), query)


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(PROBES + ["2fa", '"', "(", "AND", "tag:", "*", "verfy", "-"]), min_size=1, max_size=5).map(
        " ".join
    )
)
def test_no_query_built_from_probes_tells_tier1_anything(service, tier1_only_service, query):
    assert _comparable(service.search(query, tier="T1", limit=20)) == _comparable(
        tier1_only_service.search(query, tier="T1", limit=20)
    )


def test_tier1_suggestions_never_offer_tier2_words(service):
    for query in ("quoka ledgr", "colusion", "marmalde protocl", "gondoleir"):
        for suggestion in service.search(query, tier="T1").suggestions:
            assert not any(secret in suggestion.lower() for secret in ("quokka", "collusion", "marmalade", "gondolier"))


def test_tier2_reader_finds_tier2_material(service):
    assert service.search("quokka ledger", tier="T2").hits[0].sop_id == "T2-INSIDER-RISK"
    assert service.search("id:T2-INSIDER-RISK", tier="T2").total == 2
    assert service.search("marmalde", tier="T2").hits[0].anchor == "marmalade-protocol"
    hit = service.search("zebralineage", tier="T2").hits[0]
    assert hit.sop_id == "ATO-RECOVERY" and "<mark>zebralineage</mark>" in hit.snippet


def test_tier2_suggestion_comes_from_the_tier2_index(service):
    assert service.search("quoka", tier="T2").suggestions == ["quokka"]
    assert service.search("quoka", tier="T1").suggestions == []


def test_tier_filter_only_narrows_within_the_readers_index(service):
    t1 = service.search("tier:T2", tier="T1", limit=100)
    assert "T2-INSIDER-RISK" not in {hit.sop_id for hit in t1.hits}
    assert t1.total == service.search("tier:T1", tier="T1").total  # every T1-visible SOP here is for both tiers
    assert "T2-INSIDER-RISK" in {hit.sop_id for hit in service.search("tier:T2", tier="T2", limit=100).hits}


def test_tier1_facets_and_counts_exclude_tier2(service):
    t1 = service.search("kind:sop", tier="T1", limit=100)
    t2 = service.search("kind:sop", tier="T2", limit=100)
    assert "insider-risk" not in t1.facets["tag"] and "insider-risk" in t2.facets["tag"]
    assert t2.total > t1.total


def test_tier1_index_files_hold_no_tier2_text(index_dir):
    from kb_app.search.index import current_build

    for path in (current_build(index_dir) / "T1").iterdir():
        content = path.read_bytes().lower()
        for secret in ("quokka", "collusion", "marmalade", "zebralineage", "gondolier", "insider"):
            assert secret.encode() not in content, f"{secret} in {path.name}"
