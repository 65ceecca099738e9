"""`kb publish` and `kb index` killed at their worst moments.

- Killed after the publish committed, before the new search index is live: the rerun notices
  that the live index is older than the recorded release and rebuilds it (before, it said "0
  versions" and the new text stayed unsearchable until someone ran `kb index`).
- Killed while building the index: the next build removes the abandoned temporary build at once,
  and the live build stays complete throughout.
- Killed at random moments (seeded, printed on failure): the database holds the whole publish or
  none of it, the live index is complete, and the rerun finishes the release.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sqlalchemy import func, select

from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Assignment, PublishedVersion, Release, Requirement
from kb_app.quizzes.library import load_directory
from kb_app.search import SearchService, build_index
from kb_app.search.index import builds_dir
from kb_app.services import publishing

# The child process opens the database by URL: it needs a database of its own, not a rolled-back one.
pytestmark = pytest.mark.fresh_db

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
NEW_TEXT = "Quarantine the recovery e-mail before resetting"
BODY = "## Steps {#steps}\n\n1. Confirm the customer's identity.\n"
HISTORY = [{"version": "1.0", "date": "2026-01-01", "summary": "First."}]

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime, timezone
    from pathlib import Path
    from kb_app import db
    from kb_app.catalog import load_catalog
    from kb_app.quizzes.library import load_directory
    from kb_app.services import publishing
    from kb_app.search import index

    stage = sys.argv[4]
    if stage == "before-swap":
        # The commit is durable, the process dies before the staged index goes live.
        real_commit = None
        def commit_then_die(self):
            real_commit(self)
            os.kill(os.getpid(), signal.SIGKILL)
        from sqlalchemy.orm import Session
        real_commit = Session.commit
        Session.commit = commit_then_die
        from kb_app import releases
        real_stage = releases.stage_release
        def staged_never_live(*args, **kwargs):
            staged = real_stage(*args, **kwargs)
            staged.go_live = lambda: None
            return staged
        publishing.stage_release = staged_never_live
    elif stage == "while-indexing":
        real = index._build_tier
        def dying(catalog, tier, path, *args):
            real(catalog, tier, path, *args)
            os.kill(os.getpid(), signal.SIGKILL)
        index._build_tier = dying
    engine = db.engine_for(sys.argv[1])
    with db.session_factory(engine)() as session:
        publishing.publish_release(
            session, load_catalog(Path(sys.argv[2])), load_directory(Path(sys.argv[3] + "/quizzes")),
            now=datetime.now(timezone.utc), by="test", due_days=7, onboarding_days=14,
            index_dir=Path(sys.argv[3] + "/index"),
        )
    """
)


def _publish(engine, sop_dir, tmp_path: Path):
    with session_scope(engine) as session:
        return publishing.publish_release(
            session,
            load_catalog(sop_dir.root),
            load_directory(tmp_path / "quizzes"),
            now=NOW,
            by="test",
            due_days=7,
            onboarding_days=14,
            index_dir=tmp_path / "index",
        )


def _hits(index_dir: Path, query: str) -> int:
    service = SearchService(index_dir)
    try:
        return service.search(query, tier="T1").total
    finally:
        service.close()


def _kill_publish(db_url, sop_dir, tmp_path, stage: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, db_url, str(sop_dir.root), str(tmp_path), stage], capture_output=True, timeout=300
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]


def test_a_publish_killed_before_the_index_swap_is_completed_by_the_rerun(engine, db_url, sop_dir, tmp_path):
    (tmp_path / "quizzes").mkdir()
    sop_dir.write("ATO-RECOVERY", version="1.0", changelog=HISTORY, body=BODY)
    _publish(engine, sop_dir, tmp_path)
    sop_dir.write(
        "ATO-RECOVERY",
        version="2.0",
        changelog=[{"version": "2.0", "date": "2026-03-01", "summary": "Quarantine."}, *HISTORY],
        body=BODY + f"2. {NEW_TEXT}.\n",
    )
    engine.dispose()
    _kill_publish(db_url, sop_dir, tmp_path, "before-swap")
    assert _hits(tmp_path / "index", '"quarantine the recovery"') == 0  # committed, not searchable

    rerun = _publish(engine, sop_dir, tmp_path)
    assert not rerun.plan.has_changes  # nothing new to record ...
    assert any("older than the published release" in note for note in rerun.notes)  # ... but it noticed
    assert _hits(tmp_path / "index", '"quarantine the recovery"') == 1
    assert _publish(engine, sop_dir, tmp_path).notes == []  # and the next rerun has nothing to do


def test_an_index_build_killed_midway_is_pruned_by_the_next_build(engine, db_url, sop_dir, tmp_path):
    (tmp_path / "quizzes").mkdir()
    sop_dir.write("ATO-RECOVERY", version="1.0", changelog=HISTORY, body=BODY)
    build_index(load_catalog(sop_dir.root), tmp_path / "index")
    engine.dispose()
    _kill_publish(db_url, sop_dir, tmp_path, "while-indexing")
    partials = [p for p in builds_dir(tmp_path / "index").iterdir() if p.name.endswith(".tmp")]
    assert partials, "the killed build left its temporary directory"
    assert _hits(tmp_path / "index", "identity") >= 1  # the live build still serves, complete

    build_index(load_catalog(sop_dir.root), tmp_path / "index")
    leftovers = [p.name for p in builds_dir(tmp_path / "index").iterdir() if ".tmp" in p.name]
    assert leftovers == []


def _child(db_url, sop_dir, tmp_path, stage: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, str(sop_dir.root), str(tmp_path), stage],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _whole_or_nothing(engine, version: str) -> bool:
    """Whether `version` of ATO-RECOVERY is recorded with its requirement, assignments and release."""
    with session_scope(engine) as session:
        recorded = session.scalar(
            select(func.count()).select_from(PublishedVersion).where(PublishedVersion.version == version)
        )
        requirement = session.scalar(select(Requirement.id).where(Requirement.major == int(version.split(".")[0])))
        assignments = (
            session.scalar(select(func.count()).select_from(Assignment).where(Assignment.requirement_id == requirement))
            if requirement
            else 0
        )
        releases = session.scalar(select(func.count()).select_from(Release))
    if recorded:
        assert requirement is not None and assignments >= 1, "the version is recorded without its requirement"
    else:
        assert requirement is None and assignments == 0, "a requirement of an unrecorded version"
    return bool(recorded) and releases >= 2


@pytest.mark.slow
def test_publishes_killed_at_random_moments_leave_the_whole_publish_or_none(
    engine, db_url, sop_dir, tmp_path, make_agent
):
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    (tmp_path / "quizzes").mkdir()
    for n in range(3):
        make_agent(employee_id=f"N{n}")
    sop_dir.write("ATO-RECOVERY", version="1.0", changelog=HISTORY, body=BODY)
    _publish(engine, sop_dir, tmp_path)
    engine.dispose()
    # How long a whole publish takes in a child process here, start-up included
    started = time.monotonic()
    sop_dir.write(
        "ATO-RECOVERY",
        version="2.0",
        changelog=[{"version": "2.0", "date": "2026-03-01", "summary": "Q."}, *HISTORY],
        body=BODY + f"2. {NEW_TEXT}.\n",
    )
    calibration = _child(db_url, sop_dir, tmp_path, "none")
    assert calibration.wait(timeout=300) == 0, calibration.stderr.read().decode()[-2000:]
    whole = time.monotonic() - started
    for round_ in range(3, 8):
        version = f"{round_}.0"
        sop_dir.write(
            "ATO-RECOVERY",
            version=version,
            changelog=[{"version": version, "date": "2026-03-01", "summary": f"Round {round_}."}, *HISTORY],
            body=BODY + f"2. {NEW_TEXT} round{round_}.\n",
        )
        delay = rng.uniform(0.3, whole)
        child = _child(db_url, sop_dir, tmp_path, "none")
        time.sleep(delay)
        child.kill()
        child.wait(timeout=60)
        where = f"seed {seed}, round {round_}, killed after {delay:.2f} s of {whole:.2f} s"
        _whole_or_nothing(engine, version)  # the database holds all of it or none of it
        assert _hits(tmp_path / "index", "identity") >= 1, where  # the live index is complete
        engine.dispose()
        _publish(engine, sop_dir, tmp_path)  # finishes what the killed one did not
        assert _whole_or_nothing(engine, version), where
        assert _hits(tmp_path / "index", f"round{round_}") == 1, where
        assert _publish(engine, sop_dir, tmp_path).notes == [], where
        engine.dispose()
    leftovers = [p.name for p in builds_dir(tmp_path / "index").iterdir() if ".tmp" in p.name]
    assert leftovers == []
