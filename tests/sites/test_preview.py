"""`kb preview`: the authoring loop. Rebuild on save, problems on the page and in the terminal,
diff against the published revision, one audience and language, MkDocs' live-reload server."""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest
from click.testing import CliRunner
from fixtures.sops import git

from kb_app.cli import main
from kb_app.sites.preview import DIFF_CLASS, PROBLEMS_CLASS, PreviewSession

T2_BODY = "## Purpose {#purpose}\n\nCheck the walrus ledger.\n"
ATO_BODY = "## Verify {#verify}\n\nTwo signals.\n\n/// tier | T2\nTier 2 only: the zebra lineage view.\n///\n"


def write_corpus(sop_dir):
    sop_dir.write("ATO-RECOVERY", body=ATO_BODY)
    sop_dir.write("SIM-SWAP", body="## Signals {#signals}\n\nNo service.\n")
    sop_dir.write("T2-INFRA", body=T2_BODY, audience={"tiers": ["T2"]}, visibility="t2_only")
    sop_dir.write("ES-ONLY", body="## Solo {#solo}\n\nEn espanol.\n", audience={"tiers": ["T1"], "languages": ["es"]})


def page(site, rel):
    return (site / rel / "index.html").read_text(encoding="utf-8")


@pytest.fixture
def session(git_sop_dir, tmp_path):
    write_corpus(git_sop_dir)
    repo = git_sop_dir.root.parent
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "published")
    reports = []
    preview = PreviewSession(git_sop_dir.root, tmp_path / "preview" / "site", tier="T1", report=reports.append)
    preview.reports = reports
    preview.sop_files = git_sop_dir
    return preview


def test_the_first_build_is_the_audiences_site_and_reports_to_the_terminal(session):
    build = session.rebuild()
    site = session.site_dir
    assert build.full and build.problems == [] and session.reports == [build]
    assert "Two signals." in page(site, "procedures/ato-recovery")
    assert "zebra" not in page(site, "procedures/ato-recovery")
    assert not (site / "procedures" / "t2-infra").exists()


def test_a_save_rebuilds_only_the_changed_page_and_shows_problems_on_it(session):
    session.rebuild()
    other = session.site_dir / "procedures" / "sim-swap" / "index.html"
    before = other.stat().st_mtime_ns
    time.sleep(0.05)
    session.sop_files.write("ATO-RECOVERY", body=ATO_BODY + "\nSee {{ fact:no-such-fact }}.\n")
    build = session.rebuild()
    assert not build.full and "procedures/ato-recovery.md" in build.rebuilt
    assert "procedures/sim-swap.md" not in build.rebuilt and other.stat().st_mtime_ns == before
    messages = [str(p) for p in build.errors]
    assert any("ato-recovery.md:" in m and "unknown fact `no-such-fact`" in m for m in messages)
    assert any("version is still 1.0" in m for m in messages)  # changed text, no bump
    ato = page(session.site_dir, "procedures/ato-recovery")
    assert PROBLEMS_CLASS in ato and "unknown fact" in ato
    assert PROBLEMS_CLASS not in page(session.site_dir, "procedures/sim-swap")
    assert "unknown fact" in (session.site_dir / "index.html").read_text(encoding="utf-8")


def test_a_changed_page_shows_its_diff_against_the_published_revision(session):
    session.sop_files.write("ATO-RECOVERY", version="1.1", body=ATO_BODY.replace("Two signals.", "Three signals."))
    build = session.rebuild()
    assert build.changed_sops == ["ATO-RECOVERY"] and build.errors == []
    ato = page(session.site_dir, "procedures/ato-recovery")
    assert DIFF_CLASS in ato and "-Two signals." in ato and "+Three signals." in ato
    assert DIFF_CLASS not in page(session.site_dir, "procedures/sim-swap")


def test_a_language_preview_leaves_out_sops_narrowed_to_other_languages(session):
    session.rebuild()
    assert (session.site_dir / "procedures" / "es-only" / "index.html").is_file()
    session.language = "pl"
    build = session.rebuild()
    assert build.full and not (session.site_dir / "procedures" / "es-only").exists()


def test_the_tier2_preview_has_the_tier2_pages(git_sop_dir, tmp_path):
    write_corpus(git_sop_dir)
    preview = PreviewSession(git_sop_dir.root, tmp_path / "p" / "site", tier="T2", against=None)
    preview.rebuild()
    assert "walrus ledger" in page(preview.site_dir, "procedures/t2-infra")
    assert "zebra" in page(preview.site_dir, "procedures/ato-recovery")


def test_the_live_reload_server_serves_the_preview_and_rebuilds_on_save(session):
    session.rebuild()
    server = session.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        # serve() binds, starts the file watcher and only then its request thread: wait for that
        # thread, not just the port, or a slow start leaves shutdown() nothing to join.
        deadline = time.time() + 30
        while not server.serve_thread.is_alive() and time.time() < deadline:
            time.sleep(0.05)
        assert server.serve_thread.is_alive(), "the live-reload server did not start"
        base = f"http://127.0.0.1:{server.server_address[1]}"
        body = urllib.request.urlopen(f"{base}/procedures/ato-recovery/", timeout=10).read().decode()
        assert "Two signals." in body and "livereload" in body
        count = len(session.reports)
        # The polling watcher takes its first snapshot in its own thread; on a busy machine a save
        # made straight away can predate it, so the save is repeated until a rebuild is seen.
        deadline = time.time() + 90
        while len(session.reports) == count and time.time() < deadline:
            session.sop_files.write("SIM-SWAP", version="1.1", body="## Signals {#signals}\n\nSOS only.\n")
            for _ in range(25):
                if len(session.reports) > count:
                    break
                time.sleep(0.2)
        assert len(session.reports) > count, "no rebuild after the save"
        assert "SOS only." in urllib.request.urlopen(f"{base}/procedures/sim-swap/", timeout=10).read().decode()
    finally:
        server.shutdown(wait=server.serve_thread.is_alive())
        thread.join(timeout=10)


def test_kb_preview_is_a_command_with_audience_and_language():
    result = CliRunner().invoke(main, ["preview", "--help"])
    assert result.exit_code == 0
    for option in ("--audience", "--language", "--against", "--sop-dir", "--quiz-dir", "--port"):
        assert option in result.output
    assert CliRunner().invoke(main, ["preview", "--audience", "T3"]).exit_code == 2
