"""`kb report readiness` against a real database: the figures of the Readiness page."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from kb_app.acks import acknowledge as acks
from kb_app.acks.publishing import publish, sync_assignments
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.quizzes import attempts
from kb_app.versions import latest_version
from tests.quizzes.factories import answers_for, make_bank, write_bank

NOW = datetime.now(timezone.utc)


def _floor(engine, settings, sop_dir, make_user):
    """An SOP published a week ago and a bulletin 90 minutes ago; three agents, one certified."""
    sop_dir.write("ATO-RECOVERY")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=NOW - timedelta(days=7), by="test")
    bank = make_bank("cert-t1", cooldown_hours=0)
    write_bank(settings.quiz_dir, bank)
    start = (NOW - timedelta(days=60)).date()
    certified = make_user("agent", vendor="northwind-bpo", site="manila", start_date=start)
    others = [
        make_user("agent", vendor="northwind-bpo", site="cebu", start_date=start),
        make_user("agent", vendor="apex-cx", site="bogota", start_date=start),
    ]
    sop_dir.write("BUL-WAVE", kind="bulletin", ack_within="4h", tags=["bulletin"])
    with session_scope(engine) as session:
        sync_assignments(session, now=NOW - timedelta(days=7))
        attempt = attempts.start_attempt(session, certified, bank, now=NOW - timedelta(days=6)).attempt
        attempts.submit_attempt(
            session, certified, attempt.public_id, answers_for(bank, attempt.drawn), now=NOW - timedelta(days=6)
        )
        publish(session, load_catalog(sop_dir.root), now=NOW - timedelta(minutes=90), by="test")
    with session_scope(engine) as session:
        for user in (certified, others[1]):
            for sop_id, at in (("ATO-RECOVERY", NOW - timedelta(days=5)), ("BUL-WAVE", NOW - timedelta(minutes=30))):
                version = latest_version(session, sop_id)
                acks.acknowledge(session, user.agent, sop_id, version.tier_hashes["T1"], now=at)


def test_readiness_as_json_and_text(runner, engine, settings, sop_dir, make_user):
    _floor(engine, settings, sop_dir, make_user)
    result = runner.invoke(
        ["report", "readiness", "--by", "vendor,site", "--quiz-dir", str(settings.quiz_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    rows = {(r["vendor"], r["site"]): r for r in report["rows"]}
    assert rows[("northwind-bpo", "manila")]["ready"] == 1
    assert rows[("northwind-bpo", "cebu")]["not_certified"] == 1
    assert rows[("apex-cx", "bogota")]["not_certified"] == 1
    assert report["total"] == {
        "headcount": 3,
        "ready": 1,
        "ready_pct": 33.3,
        "not_ready": 2,
        "not_certified": 2,
        "not_acknowledged": 0,
        "awaiting_quiz": 0,
    }
    [bulletin] = report["bulletins"]
    assert bulletin["sop_id"] == "BUL-WAVE" and bulletin["overall"]["acknowledged"] == 2
    vendors = {p["vendor"]: p for p in bulletin["by_vendor"]}
    assert vendors["apex-cx"]["state"] == "complete"
    northwind = vendors["northwind-bpo"]
    assert (northwind["acknowledged"], northwind["remaining"], northwind["rate_per_hour"]) == (1, 1, 1.0)
    assert northwind["state"] == "on_track" and northwind["hours_to_full"] == 1.0

    text = runner.invoke(["report", "readiness", "--by", "vendor", "--quiz-dir", str(settings.quiz_dir)]).output
    assert "ready: 1 of 3 active agents (33.3%)" in text
    assert "BUL-WAVE v1.0: 2 of 3 acknowledged" in text


def test_one_vendor_only(runner, engine, settings, sop_dir, make_user):
    _floor(engine, settings, sop_dir, make_user)
    result = runner.invoke(
        ["report", "readiness", "--vendor", "apex-cx", "--by", "team", "--quiz-dir", str(settings.quiz_dir), "--json"]
    )
    report = json.loads(result.output)
    assert report["vendor"] == "apex-cx" and report["total"]["headcount"] == 1
    assert [p["vendor"] for p in report["bulletins"][0]["by_vendor"]] == ["apex-cx"]


def test_bad_grouping_is_a_usage_error_naming_it(runner, settings):
    settings.quiz_dir.mkdir(parents=True, exist_ok=True)
    result = runner.invoke(["report", "readiness", "--by", "vendor,shift", "--quiz-dir", str(settings.quiz_dir)])
    assert result.exit_code == 2 and "'shift'" in result.output


def test_broken_quiz_banks_are_refused_with_their_line(runner, settings):
    settings.quiz_dir.mkdir(parents=True, exist_ok=True)
    (settings.quiz_dir / "broken.yml").write_text("id: [unclosed\n", encoding="utf-8")
    result = runner.invoke(["report", "readiness", "--quiz-dir", str(settings.quiz_dir)])
    assert result.exit_code == 1
    assert "broken.yml" in result.output and "certification cannot be judged" in result.output
