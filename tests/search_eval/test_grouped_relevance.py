"""Grouping by SOP does not lose to ranking by section, on our SOPs and on the GitLab support handbook.

Each corpus is searched three ways with the same judged queries (see kb_app.search.evaluation):
by section (one row per section, what the page showed before), grouped with every listed section
counted as one rank (the list as read, link by link), and grouped with every card counted as one
rank (the results an agent passes before the right SOP).

The handbook is not in this repository. `KB_HANDBOOK_DIR` points at it; without it the folder next
to the repository (`../shared/corpora/gitlab-handbook`) is used if it exists, else the handbook
half is skipped, unless `KB_REQUIRE_HANDBOOK` is set (CI sets it), which makes a missing corpus a
failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb_app.catalog import load_catalog
from kb_app.search import SearchService, build_index
from kb_app.search.corpora import handbook_pages, write_handbook_sops
from kb_app.search.evaluation import (
    card_keys,
    evaluate,
    evaluate_cards,
    grouped_keys,
    load_judged_queries,
    section_keys,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUR_QUERIES = HERE / "queries.yml"
HANDBOOK_QUERIES = HERE / "gitlab_handbook_queries.yml"
MIN_HANDBOOK_QUERIES = 30
# Read as a list, link by link, grouping may trade one query's rank for another's; over the whole
# set it must stay level with ranking by section (measured: equal or better but for recall@5 on
# the handbook, 0.781 against 0.785: one query's third answer).
AS_READ_TOLERANCE = 0.01


def handbook_dir() -> Path | None:
    configured = os.environ.get("KB_HANDBOOK_DIR")
    if configured:
        return Path(configured)
    default = REPO.parent / "shared" / "corpora" / "gitlab-handbook"
    return default if default.is_dir() else None


def _service(catalog, path: Path) -> SearchService:
    build_index(catalog, path)
    return SearchService(path)


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    catalog = load_catalog(REPO / "sop")
    service = _service(catalog, tmp_path_factory.mktemp("ours") / "index")
    yield service, load_judged_queries(OUR_QUERIES)
    service.close()


@pytest.fixture(scope="module")
def handbook(tmp_path_factory):
    root = handbook_dir()
    if root is None or not handbook_pages(root):
        reason = (
            f"GitLab handbook corpus not found (KB_HANDBOOK_DIR={os.environ.get('KB_HANDBOOK_DIR', '')!r}); "
            "set KB_HANDBOOK_DIR to the gitlab-handbook folder to measure relevance on it"
        )
        if os.environ.get("KB_REQUIRE_HANDBOOK"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("handbook")
    write_handbook_sops(root, work / "sop")
    catalog = load_catalog(work / "sop")
    assert not [p for p in catalog.problems if p.is_error], catalog.problems
    service = _service(catalog, work / "index")
    yield service, catalog, load_judged_queries(HANDBOOK_QUERIES)
    service.close()


def _three_ways(service: SearchService, judged):
    def by_section(text, tier):
        return section_keys(service.search(text, tier=tier, limit=10))

    def grouped(text, tier):
        return service.search(text, tier=tier, limit=10, group="sop")

    sectioned = evaluate(by_section, judged)
    as_read = evaluate(lambda text, tier: grouped_keys(grouped(text, tier)), judged)
    cards = evaluate_cards(lambda text, tier: card_keys(grouped(text, tier)), judged)
    return sectioned, as_read, cards


def _assert_not_worse(name: str, sectioned, as_read, cards) -> None:
    figures = (
        f"{name}: by section {sectioned.summary()}, grouped as read {as_read.summary()}, per card {cards.summary()}"
    )
    assert cards.mrr >= sectioned.mrr and cards.recall >= sectioned.recall, figures
    assert as_read.mrr >= sectioned.mrr - AS_READ_TOLERANCE, figures
    assert as_read.recall >= sectioned.recall - AS_READ_TOLERANCE, figures


def test_grouping_does_not_lose_on_our_sops(ours):
    service, judged = ours
    _assert_not_worse("ours", *_three_ways(service, judged))


def test_handbook_queries_are_many_and_name_real_sections(handbook):
    _service, catalog, judged = handbook
    assert len(judged) >= MIN_HANDBOOK_QUERIES
    assert len({q.query for q in judged}) == len(judged), "duplicate queries"
    for query in judged:
        for answer in query.answers:
            sop_id, _, anchor = answer.partition("#")
            page = catalog.get(sop_id)
            assert page is not None, f"{query.query!r}: no handbook page {sop_id}"
            if anchor:
                assert anchor in {s.anchor for s in page.sections_for(query.tier)}, f"{query.query!r}: {answer}"


def test_grouping_does_not_lose_on_the_gitlab_handbook(handbook):
    service, _catalog, judged = handbook
    _assert_not_worse("handbook", *_three_ways(service, judged))
