"""Rebuilds: a new build is switched in atomically, searches keep working during it, a failed
build leaves the old one serving, old builds are pruned and the previous one can be restored."""

from __future__ import annotations

import os
import threading

import pytest

from kb_app.search import BuildError, IndexNotFound, SearchService, build_index, rollback
from kb_app.search import index as search_index
from kb_app.search.index import POINTER, complete_builds, current_build, read_pointer
from fixtures.search import write_corpus


@pytest.fixture
def corpus(sop_dir):
    write_corpus(sop_dir)
    return sop_dir


def test_build_switches_the_pointer_and_keeps_the_previous_build(corpus, tmp_path):
    index_dir = tmp_path / "index"
    first = build_index(corpus.root, index_dir)
    second = build_index(corpus.root, index_dir)
    assert read_pointer(index_dir) == second.build_id and second.previous == first.build_id
    assert complete_builds(index_dir) == [first.build_id, second.build_id]
    third = build_index(corpus.root, index_dir)
    assert complete_builds(index_dir) == [second.build_id, third.build_id]
    assert third.pruned == [first.build_id]
    assert current_build(index_dir).name == third.build_id


def test_rollback_serves_the_previous_build(corpus, tmp_path):
    index_dir = tmp_path / "index"
    first = build_index(corpus.root, index_dir)
    corpus.write("NEW-THING", body="## Okapi {#okapi}\n\nOkapi handling.\n")
    build_index(corpus.root, index_dir)
    service = SearchService(index_dir)
    assert service.search("okapi").total == 1
    assert rollback(index_dir) == first.build_id
    assert service.search("okapi").total == 0
    with pytest.raises(IndexNotFound):
        rollback(index_dir)


def test_searcher_picks_up_a_new_build_without_restart(corpus, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus.root, index_dir)
    worker_a, worker_b = SearchService(index_dir), SearchService(index_dir)  # two web workers
    assert worker_a.search("okapi").total == 0 and worker_b.search("okapi").total == 0
    corpus.write("NEW-THING", body="## Okapi {#okapi}\n\nOkapi handling.\n")
    build_index(corpus.root, index_dir)
    assert worker_a.search("okapi").hits[0].sop_id == "NEW-THING"
    assert worker_b.search("okapi").hits[0].sop_id == "NEW-THING"


def test_searches_keep_answering_during_rebuilds(corpus, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus.root, index_dir)
    service = SearchService(index_dir)
    stop = threading.Event()
    failures: list[BaseException] = []
    answers: list[int] = []

    def search_in_a_loop():
        while not stop.is_set():
            try:
                results = service.search("verify ownership")
                answers.append(results.total)
                assert results.hits and results.hits[0].anchor == "verify-ownership"
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)
                return

    threads = [threading.Thread(target=search_in_a_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for number in range(6):
            corpus.write(f"EXTRA-{number}", body=f"## Extra {number} {{#extra}}\n\nExtra note {number}.\n")
            build_index(corpus.root, index_dir)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures[0]
    assert len(answers) > 6
    assert service.search("extra note").total == 6
    assert len(complete_builds(index_dir)) == 2


def test_build_with_catalog_errors_is_refused_and_the_old_build_keeps_serving(corpus, tmp_path):
    index_dir = tmp_path / "index"
    good = build_index(corpus.root, index_dir)
    corpus.write("BROKEN", raw="---\nid: BROKEN\n---\nno front matter fields\n")
    with pytest.raises(BuildError) as failure:
        build_index(corpus.root, index_dir)
    assert failure.value.problems and "broken.md" in str(failure.value.problems[0])
    assert read_pointer(index_dir) == good.build_id
    assert complete_builds(index_dir) == [good.build_id]
    assert SearchService(index_dir).search("verify ownership").total > 0


def test_build_failing_midway_leaves_no_partial_build(corpus, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    good = build_index(corpus.root, index_dir)
    real = search_index.tier_documents

    def fail_on_tier2(catalog, tier):
        if tier == "T2":
            raise OSError("disk full")
        return real(catalog, tier)

    monkeypatch.setattr(search_index, "tier_documents", fail_on_tier2)
    with pytest.raises(BuildError, match="disk full"):
        build_index(corpus.root, index_dir)
    assert read_pointer(index_dir) == good.build_id
    assert sorted(os.listdir(index_dir / "builds")) == [good.build_id]


def test_missing_index_is_reported_clearly(tmp_path):
    service = SearchService(tmp_path / "nowhere")
    with pytest.raises(IndexNotFound, match="kb index"):
        service.search("hacked")


def test_pointer_to_a_vanished_build_is_reported(corpus, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus.root, index_dir)
    (index_dir / POINTER).write_text("19990101T000000000000Z-1\n")
    with pytest.raises(IndexNotFound, match="missing"):
        SearchService(index_dir).search("hacked")


def test_abandoned_partial_builds_are_cleaned_up_later(corpus, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus.root, index_dir)
    fresh = index_dir / "builds" / "20990101T000000000000Z-1.tmp"
    stale = index_dir / "builds" / "19990101T000000000000Z-1.tmp"
    fresh.mkdir()
    stale.mkdir()
    os.utime(stale, (0, 0))
    build_index(corpus.root, index_dir)
    assert fresh.exists() and not stale.exists()


WORKER = """
import pathlib, sys, time
from kb_app.search import SearchService
service = SearchService(sys.argv[1])
done = pathlib.Path(sys.argv[2])
deadline = time.monotonic() + 120
searches = 0
print("ready", flush=True)
while not done.exists() and time.monotonic() < deadline:
    results = service.search("verify ownership")
    assert results.hits[0].anchor == "verify-ownership", results.hits
    searches += 1
print(searches, service.search("extra note").total)
"""


def test_worker_processes_keep_searching_while_another_process_rebuilds(corpus, tmp_path):
    import subprocess
    import sys

    index_dir = tmp_path / "index"
    done = tmp_path / "rebuilds-done"
    build_index(corpus.root, index_dir)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(index_dir), str(done)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for number in range(4):
        corpus.write(f"EXTRA-{number}", body=f"## Extra {number} {{#extra}}\n\nExtra note {number}.\n")
        build_index(corpus.root, index_dir)
    done.touch()
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        searches, extra = map(int, out.split())
        assert searches > 4 and extra == 4


def test_a_build_pruned_before_its_tier_was_opened_is_replaced_by_the_live_one(corpus, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus.root, index_dir)
    service = SearchService(index_dir)
    assert service.search("verify ownership", tier="T1").total > 0  # opens T1 of the first build only
    build_index(corpus.root, index_dir)
    build_index(corpus.root, index_dir)  # prunes the first build
    assert not service._build.path.exists()  # the service still holds the pruned first build
    service._pointer_stamp = service._stamp()  # as if the switch happened during this search
    assert service.search("quokka", tier="T2").hits[0].sop_id == "T2-INSIDER-RISK"


def test_a_build_from_another_format_asks_for_a_rebuild(corpus, tmp_path):
    import json

    index_dir = tmp_path / "index"
    build_index(corpus.root, index_dir)
    manifest = current_build(index_dir) / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 1}))
    with pytest.raises(IndexNotFound, match="kb index"):
        SearchService(index_dir).search("hacked")
