"""Relevance floor on the real corpus (sop/): MRR@10 and recall@5 over tests/search_eval/queries.yml.

The floors sit a little below the measured figures (see bench/RESULTS.md), so a change that
makes agents' searches worse fails here; raise them when relevance improves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_app.catalog import load_catalog
from kb_app.search import SearchService, build_index
from kb_app.search.evaluation import evaluate, load_judged_queries

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "sop"
QUERIES = HERE / "queries.yml"

MRR_FLOOR = 0.66  # measured 0.712
RECALL_FLOOR = 0.80  # measured 0.861
MIN_QUERIES = 50


@pytest.fixture(scope="module")
def catalog():
    catalog = load_catalog(CORPUS)
    if not len(catalog):
        pytest.skip("the SOP corpus is empty")
    return catalog


@pytest.fixture(scope="module")
def judged():
    return load_judged_queries(QUERIES)


@pytest.fixture(scope="module")
def service(catalog, tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("eval") / "index"
    build_index(catalog, index_dir)
    return SearchService(index_dir)


def test_evaluation_set_is_big_and_names_real_sections(catalog, judged):
    assert len(judged) >= MIN_QUERIES
    assert len({q.query for q in judged}) == len(judged), "duplicate queries"
    for query in judged:
        for answer in query.answers:
            sop_id, _, anchor = answer.partition("#")
            sop = catalog.get(sop_id)
            assert sop is not None, f"{query.query!r}: no SOP {sop_id}"
            assert sop.visible_to(query.tier), f"{query.query!r}: {sop_id} is not visible to {query.tier}"
            if anchor:
                anchors = {s.anchor for s in sop.sections_for(query.tier)}
                assert anchor in anchors, f"{query.query!r}: {sop_id} has no section #{anchor} for {query.tier}"


def test_relevance_stays_above_the_floor(service, judged):
    report = evaluate(
        lambda text, tier: [f"{hit.sop_id}#{hit.anchor}" for hit in service.search(text, tier=tier, limit=10).hits],
        judged,
    )
    misses = "\n".join(
        f"  {o.query.query!r}: wanted {', '.join(o.query.answers)}; got {', '.join(o.ranked[:3])}"
        for o in report.misses()
    )
    assert report.mrr >= MRR_FLOOR, f"MRR@10 {report.mrr:.3f} < {MRR_FLOOR}\n{misses}"
    assert report.recall >= RECALL_FLOOR, f"recall@5 {report.recall:.3f} < {RECALL_FLOOR}\n{misses}"
