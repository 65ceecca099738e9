"""One release everywhere: a publish makes search and both sites show the new text before any
agent is asked to acknowledge it, undoes that when the commit fails, and a node (or `kb serve`)
rebuilds what is older than the recorded release or refuses SOP files that are not it."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from kb_app import releases
from kb_app.catalog import load_catalog
from kb_app.db import session_factory
from kb_app.models import Release, Requirement
from kb_app.search import SearchService
from kb_app.services import publishing
from kb_app.sites import site_catalog_hash
from tests.fixtures.publishing import publish_now

# Real MkDocs builds; the node tests read the database from their own sessions.
pytestmark = [pytest.mark.slow, pytest.mark.fresh_db]


def _publish(session, settings, sop_dir, **overrides):
    site_dir = overrides.pop("site_dir", settings.site_dir)
    return publish_now(session, settings, sop_dir.root, index_dir=settings.index_dir, site_dir=site_dir, **overrides)


def _page(settings, tier="T1") -> str:
    return (settings.site_dir / tier / "procedures" / "ato-recovery" / "index.html").read_text(encoding="utf-8")


def test_publishing_makes_index_and_sites_the_release_before_asking(engine, settings, sop_dir, tmp_path):
    settings = settings.replace(site_dir=tmp_path / "site")
    sop_dir.write("ATO-RECOVERY", body="## Verify {#verify}\n\nFirst text.\n")
    with session_factory(engine)() as session:
        _publish(session, settings, sop_dir)
    sop_dir.write("ATO-RECOVERY", version="2.0", body="## Verify {#verify}\n\nCall the customer back.\n")
    with session_factory(engine)() as session:
        _publish(session, settings, sop_dir)
        release = releases.latest_release(session)
        requirement = session.scalars(select(Requirement).where(Requirement.closed_at.is_(None))).one()
        assert requirement.version.version == "2.0"
        state = releases.served(session, settings.index_dir, settings.site_dir)
    assert release.id == 2 and release.versions == ["ATO-RECOVERY v2.0"]
    assert state.behind == [] and state.catalog_hash == load_catalog(sop_dir.root).release_hash
    assert "Call the customer back" in _page(settings) and "First text" not in _page(settings)
    hits = SearchService(settings.index_dir).search("call the customer back", tier="T1").hits
    assert hits and hits[0].sop_id == "ATO-RECOVERY"
    # Only the live builds remain: the replaced ones were removed once the release stood.
    assert len(list((settings.site_dir / ".builds").glob("T1-*"))) == 1


def test_a_failed_commit_puts_the_previous_index_and_sites_back(engine, settings, sop_dir, tmp_path, monkeypatch):
    settings = settings.replace(site_dir=tmp_path / "site")
    sop_dir.write("ATO-RECOVERY", body="## Verify {#verify}\n\nFirst text.\n")
    with session_factory(engine)() as session:
        _publish(session, settings, sop_dir)
    before = site_catalog_hash(settings.site_dir, "T1")
    sop_dir.write("ATO-RECOVERY", version="2.0", body="## Verify {#verify}\n\nSecond text.\n")

    from sqlalchemy.orm import Session

    def refuse(self):
        raise RuntimeError("the database went away at commit")

    with session_factory(engine)() as session:
        monkeypatch.setattr(Session, "commit", refuse)
        with pytest.raises(RuntimeError):
            _publish(session, settings, sop_dir)
        monkeypatch.undo()
    with session_factory(engine)() as session:
        assert [r.id for r in session.scalars(select(Release))] == [1]
    assert site_catalog_hash(settings.site_dir, "T1") == before and "First text" in _page(settings)
    hits = SearchService(settings.index_dir).search("second text", tier="T1").hits
    assert {hit.version for hit in hits} == {"1.0"}


def test_a_site_that_does_not_build_refuses_the_publish(engine, settings, sop_dir, tmp_path):
    settings = settings.replace(site_dir=tmp_path / "site")
    sop_dir.write("ATO-RECOVERY", body="## Verify {#verify}\n\nSee [the missing page](missing.md).\n")
    with session_factory(engine)() as session, pytest.raises(publishing.PublishRefused) as refused:
        _publish(session, settings, sop_dir)
    assert "nothing was published" in refused.value.problems[0]
    with session_factory(engine)() as session:
        assert releases.latest_release(session) is None


def test_a_node_behind_the_release_rebuilds_from_matching_files_and_refuses_others(engine, settings, sop_dir, tmp_path):
    settings = settings.replace(site_dir=tmp_path / "site")
    sop_dir.write("ATO-RECOVERY", body="## Verify {#verify}\n\nFirst text.\n")
    with session_factory(engine)() as session:
        _publish(session, settings, sop_dir)
    other = settings.replace(
        var_dir=tmp_path / "other", index_dir=tmp_path / "other" / "index", site_dir=tmp_path / "o"
    )
    with session_factory(engine)() as session:
        assert releases.served(session, other.index_dir, other.site_dir).behind == ["index", "site T1", "site T2"]
        rebuilt = releases.prepare_to_serve(
            session, load_catalog(sop_dir.root), index_dir=other.index_dir, site_dir=other.site_dir
        )
        assert rebuilt == ["index", "site T1", "site T2", "site preview-T1", "site preview-T2"]
        assert releases.served(session, other.index_dir, other.site_dir).behind == []
    # Unpublished edits on disk: serving them would show text nobody published.
    sop_dir.write("ATO-RECOVERY", version="1.1", body="## Verify {#verify}\n\nAn unpublished edit.\n")
    with session_factory(engine)() as session, pytest.raises(releases.BehindRelease, match="not the published release"):
        releases.prepare_to_serve(
            session, load_catalog(sop_dir.root), index_dir=other.index_dir, site_dir=other.site_dir
        )


def test_a_language_site_older_than_the_release_is_behind_and_rebuilt(engine, settings, sop_dir, tmp_path):
    settings = settings.replace(site_dir=tmp_path / "site")
    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", "es")
    with session_factory(engine)() as session:
        _publish(session, settings, sop_dir)
        state = releases.served(session, settings.index_dir, settings.site_dir)
        assert state.behind == [] and {"T1.es", "T2.es", "preview-T1"} <= set(state.site_hashes)
        # The Spanish site left from an older build (a swap cut short, a copy restored by hand):
        # agents reading Spanish would be asked for text their site does not show.
        manifest = settings.site_dir / "T1.es" / "kb-site.json"
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "catalog_hash": "an older catalog"}))
        assert releases.served(session, settings.index_dir, settings.site_dir).behind == ["site T1.es"]
        catalog = load_catalog(sop_dir.root)
        assert "site T1.es" in releases.catch_up(catalog, index_dir=settings.index_dir, site_dir=settings.site_dir)
        assert releases.served(session, settings.index_dir, settings.site_dir).behind == []
        # Gone altogether (never swapped in): the rebuild from the catalog notices it as well.
        live = settings.site_dir / "T2.es"
        if live.is_symlink():
            live.unlink()
        else:
            shutil.rmtree(live)
        assert "site T2.es" in releases.catch_up(catalog, index_dir=settings.index_dir, site_dir=settings.site_dir)
        assert site_catalog_hash(settings.site_dir, "T2.es") == catalog.release_hash


def test_the_release_watcher_brings_a_node_up_to_date(engine, settings, sop_dir, tmp_path):
    from kb_app import shared_state

    settings = settings.replace(site_dir=tmp_path / "site")
    sop_dir.write("ATO-RECOVERY", body="## Verify {#verify}\n\nFirst text.\n")
    with session_factory(engine)() as session:
        _publish(session, settings, sop_dir)
    node = settings.replace(var_dir=tmp_path / "node", index_dir=tmp_path / "node" / "index", site_dir=tmp_path / "ns")
    watcher = releases.ReleaseWatcher(node, engine, shared_state.for_url(settings.database_url))
    assert watcher.check() == ["index", "site T1", "site T2"]
    assert watcher.check() == []
    sop_dir.write("ATO-RECOVERY", version="2.0", body="## Verify {#verify}\n\nSecond text.\n")
    with session_factory(engine)() as session:
        _publish(session, settings, sop_dir)
    # Behind now: the index and every site the node's live build was built with.
    assert watcher.check() == ["index", "site T1", "site T2", "site preview-T1", "site preview-T2"]
    assert watcher.behind is None
    page = (node.site_dir / "T1" / "procedures" / "ato-recovery" / "index.html").read_text(encoding="utf-8")
    assert "Second text" in page
    # Built as `kb setup` builds the sites the app serves: the search box opens the app's search.
    assert '<meta name="kb-search-url" content="/search">' in page
