"""`kb quiz analysis`, `kb quiz coverage` and `kb quiz gates` against a real database."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from kb_app.models.quizzes import QuizAttempt
from kb_app.quizzes import attempts, remediation
from kb_app.quizzes.draw import Attempt
from kb_app.quizzes.grading import grade
from kb_app.quizzes.library import load_directory
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.acks.publishing import publish
from tests.quizzes.factories import answers_for, make_bank, write_bank

T0 = datetime.now(timezone.utc) - timedelta(days=2)


@pytest.fixture
def taken(engine, settings, sop_dir, make_user):
    """ATO-RECOVERY v1.0 published; four agents took the certification (two passed)."""
    sop_dir.write("ATO-RECOVERY", version="1.0")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=T0, by="test")
    bank = make_bank("cert-t1", cooldown_hours=0)
    write_bank(settings.quiz_dir, bank)
    write_bank(settings.quiz_dir, make_bank("update-ato-1-0", kind="update", version="1.0"))
    people = [make_user("agent", vendor="apex-cx" if i % 2 else "northwind-bpo") for i in range(4)]
    with session_scope(engine) as session:
        for index, user in enumerate(people):
            attempt = attempts.start_attempt(session, user, bank, now=T0, seed=str(index)).attempt
            submission = answers_for(bank, attempt.drawn, right=index < 2)
            attempts.submit_attempt(session, user, attempt.public_id, submission, now=T0 + timedelta(minutes=4))
    return settings.quiz_dir


def test_item_analysis_as_json_and_csv(runner, taken):
    result = runner.invoke(["quiz", "analysis", "cert-t1", "--quiz-dir", str(taken), "--json"])
    assert result.exit_code == 0, result.output
    [analysis] = json.loads(result.output)["analyses"]
    assert analysis["attempts"] == 4 and len(analysis["items"]) == 5
    assert all(item["url"].startswith("/sop/procedures/ato-recovery/#") for item in analysis["items"])
    result = runner.invoke(["quiz", "analysis", "cert-t1", "--quiz-dir", str(taken), "--by", "vendor", "--csv"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {r["vendor"] for r in rows} == {"apex-cx", "northwind-bpo"} and len(rows) == 10
    text = runner.invoke(["quiz", "analysis", "cert-t1", "--quiz-dir", str(taken)]).output
    assert "4 attempts" in text and "F=0.5" in text


def test_certification_coverage(runner, taken):
    result = runner.invoke(["quiz", "coverage", "cert-t1", "--quiz-dir", str(taken), "--by", "vendor", "--json"])
    rows = {r["vendor"]: r for r in json.loads(result.output)["rows"]}
    assert rows["northwind-bpo"]["certified"] == 1 and rows["apex-cx"]["never"] == 1
    assert runner.invoke(["quiz", "coverage", "update-ato-1-0", "--quiz-dir", str(taken)]).exit_code == 1
    assert runner.invoke(["quiz", "coverage", "cert-t1", "--quiz-dir", str(taken), "--by", "shoe_size"]).exit_code == 2


def test_gates_are_recorded_and_listed(runner, taken):
    result = runner.invoke(["quiz", "gates", "--quiz-dir", str(taken), "--json"])
    assert json.loads(result.output) == {"recorded": 0, "undecided_versions": True, "decisions": []}
    result = runner.invoke(["quiz", "gates", "--record", "--quiz-dir", str(taken), "--json"])
    body = json.loads(result.output)
    assert body["recorded"] == 1 and body["decisions"][0]["gates"][0]["bank_id"] == "update-ato-1-0"
    assert "ATO-RECOVERY v1.0: update-ato-1-0 (T1)" in runner.invoke(["quiz", "gates", "--quiz-dir", str(taken)]).output


def test_who_is_in_remediation_and_its_outcomes(runner, taken, engine):
    """The fixture's attempts went straight to the core; assign their remediation as submit_quiz would."""
    bank = load_directory(taken).get("cert-t1")
    with session_scope(engine) as session:
        for attempt in session.query(QuizAttempt).filter(QuizAttempt.passed.is_(False)):
            result = grade(bank, Attempt.from_dict(attempt.drawn), attempt.submission or {})
            remediation.assign_after_attempt(session, attempt, bank, result, now=T0 + timedelta(minutes=5))
    result = runner.invoke(["quiz", "remediation", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["in_remediation"]
    assert len(rows) == 2 and all(r["sections"] == 2 and r["status"] == "reading" for r in rows)
    text = runner.invoke(["quiz", "remediation", "--vendor", "apex-cx"]).output
    assert "apex-cx" in text and "0/2 read" in text and "northwind" not in text
    analysis = json.loads(runner.invoke(["quiz", "analysis", "cert-t1", "--quiz-dir", str(taken), "--json"]).output)
    assert analysis["remediation"]["assigned"] == 2 and analysis["remediation"]["open"] == 2
