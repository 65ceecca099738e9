"""Search grouped by SOP: one result per SOP with its best sections, totals and facets that count
SOPs, paging by SOP, the same tier rules. On the fixture corpus and on the real one (sop/)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fixtures.search import NOW, T2_SECRETS
from kb_app.catalog import load_catalog
from kb_app.search import SearchService, build_index
from kb_app.search.grouping import MAX_SECTIONS, NEXT_SHARE, rank_groups

REAL_CORPUS = Path(__file__).resolve().parents[2] / "sop"
ISSUE_QUERY = "customer says hacker changed phone number"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("grouped-real") / "index"
    build_index(load_catalog(REAL_CORPUS), index_dir)
    service = SearchService(index_dir, clock=lambda: NOW)
    yield service
    service.close()


def _well_formed(results) -> None:
    """What every grouped answer promises, whatever the query."""
    ids = [group.sop_id for group in results.groups]
    assert len(ids) == len(set(ids)), "an SOP appears on two cards"
    flattened = [hit for group in results.groups for hit in group.sections]
    assert results.hits == flattened, "hits are the cards' sections in order"
    for group in results.groups:
        assert 1 <= len(group.sections) <= MAX_SECTIONS
        assert all(hit.sop_id == group.sop_id for hit in group.sections)
        scores = [hit.score for hit in group.sections]
        assert scores == sorted(scores, reverse=True), "a card lists its best section first"
        assert group.matched_sections >= len(group.sections)
        assert group.url == group.sections[0].url.split("#")[0]
        assert (group.title, group.kind, group.version) == (
            group.best.title,
            group.best.kind,
            group.best.version,
        )
    scores = [group.score for group in results.groups]
    assert scores == sorted(scores, reverse=True)


def test_the_issue_query_gives_one_card_per_sop_instead_of_one_sop_filling_the_page(real):
    sectioned = real.search(ISSUE_QUERY, tier="T1", limit=10)
    grouped = real.search(ISSUE_QUERY, tier="T1", limit=10, group="sop")
    # Before: the first rows of the page are sections of one SOP.
    assert [hit.sop_id for hit in sectioned.hits[:6]] == ["SIM-SWAP"] * 6
    # After: ten different SOPs, SIM-SWAP first with several sections beneath it.
    _well_formed(grouped)
    assert [group.sop_id for group in grouped.groups][:2] == ["SIM-SWAP", "ATO-RECOVERY"]
    assert len(grouped.groups) == 10
    assert len(grouped.groups[0].sections) > 1
    assert grouped.groups[0].sections[0].anchor == sectioned.hits[0].anchor
    # Totals: the same matches, counted as SOPs.
    assert grouped.total == sectioned.total and grouped.total_sops == sectioned.total_sops
    assert grouped.group == "sop" and sectioned.group == "" and sectioned.groups == []


def test_a_card_lists_only_sections_that_would_rank_near_the_next_card(real):
    grouped = real.search("2fa reset", tier="T1", limit=10, group="sop")
    _well_formed(grouped)
    for card, following in zip(grouped.groups, grouped.groups[1:]):
        for hit in card.sections[1:]:
            assert hit.score >= following.sections[0].score * NEXT_SHARE


def test_facets_count_sops_not_sections(service):
    sectioned = service.search("account", tier="T2")
    grouped = service.search("account", tier="T2", group="sop")
    assert sum(grouped.facets["kind"].values()) == grouped.total_sops
    assert sum(sectioned.facets["kind"].values()) == sectioned.total  # the section view keeps its counts
    assert all(count <= grouped.total_sops for count in grouped.facets["tag"].values())
    assert set(grouped.facets["tag"]) <= set(sectioned.facets["tag"]) | set(grouped.facets["tag"])
    # An SOP counts once under each of its tags.
    for tag, count in grouped.facets["tag"].items():
        only = service.search("account", tier="T2", group="sop", filters={"tag": tag}, limit=100)
        assert count == only.total_sops == len(only.groups)


def test_paging_counts_sops(real):
    everything = real.search("account", tier="T2", limit=40, group="sop")
    first = real.search("account", tier="T2", limit=5, group="sop")
    second = real.search("account", tier="T2", limit=5, offset=5, group="sop")
    ids = [g.sop_id for g in everything.groups]
    assert [g.sop_id for g in first.groups] == ids[:5]
    assert [g.sop_id for g in second.groups] == ids[5:10]
    assert first.total_sops == second.total_sops == everything.total_sops
    assert second.offset == 5 and second.limit == 5


def test_grouping_keeps_tier_2_material_out_of_tier_1(service):
    for word in T2_SECRETS:
        results = service.search(word, tier="T1", group="sop")
        text = repr(results.groups) + repr(results.facets) + repr(results.suggestions)
        assert word.lower() not in text.lower(), word
    t2 = service.search("quokka", tier="T2", group="sop")
    assert t2.groups, "the Tier 2 index has the word, so Tier 2 finds it"


def test_filters_narrow_the_groups(service):
    results = service.search("threat", tier="T2", group="sop", filters={"kind": "escalation"})
    assert results.groups and all(group.kind == "escalation" for group in results.groups)
    assert service.search("", tier="T1", group="sop", filters={"kind": "escalation"}).groups


def test_unknown_grouping_is_a_caller_error(service):
    with pytest.raises(ValueError, match="grouping"):
        service.search("account", group="page")


def test_same_query_same_page(real):
    first = real.search("account", tier="T1", group="sop")
    again = real.search("account", tier="T1", group="sop")
    assert [(g.sop_id, [h.anchor for h in g.sections]) for g in first.groups] == [
        (g.sop_id, [h.anchor for h in g.sections]) for g in again.groups
    ]


def test_rank_groups_breaks_ties_by_sop_and_lists_the_strong_sections():
    # Two SOPs tied on their best section; SOP 0 (the lower number) comes first.
    scores = {0: 10.0, 1: 9.0, 2: 1.0, 3: 10.0, 4: 2.0}
    sop_of = [0, 0, 0, 1, 1]
    members = {0: (0, 1, 2), 1: (3, 4)}
    ranking = rank_groups(scores, sop_of, lambda doc: members[sop_of[doc]], offset=0, limit=10)
    assert ranking.total == 2 and sorted(sop_of[doc] for doc in ranking.representatives) == [0, 1]
    page = ranking.page
    assert [group.sop for group in page] == [0, 1]
    assert page[0].docs == (0, 1)  # 9.0 is strong beside the next card's 10.0; 1.0 is not
    assert page[0].matched == 3
    assert page[1].docs == (3, 4)  # the last card has no next card to yield to


def test_rank_groups_pages_like_ranking_every_sop():
    """Looking only at SOPs that can reach the page gives the same page as scoring them all."""
    rng = random.Random(3)
    sop_of = [doc // 7 for doc in range(700)]
    members = {sop: tuple(range(sop * 7, sop * 7 + 7)) for sop in range(100)}
    scores = {doc: round(rng.uniform(0.1, 20), 1) for doc in range(700) if rng.random() < 0.4}
    everything = rank_groups(scores, sop_of, lambda doc: members[sop_of[doc]], offset=0, limit=100).page
    for offset in (0, 3, 10, 40):
        page = rank_groups(scores, sop_of, lambda doc: members[sop_of[doc]], offset=offset, limit=10).page
        assert [(g.sop, g.score, g.matched) for g in page] == [
            (g.sop, g.score, g.matched) for g in everything[offset : offset + 10]
        ]
