"""The audit log: append-only, filterable, exported as spreadsheet-safe CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest

from kb_app import audit
from kb_app.models import AuditEvent


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def logged(session):
    for day, action, actor in [
        (1, "login.success", "maria@example.com"),
        (2, "login.failure", '=HYPERLINK("http://evil.example")'),
        (3, "token.create", "cli:ops"),
        (4, "roster.import", "cli:ops"),
    ]:
        session.add(AuditEvent(occurred_at=at(day), action=action, actor=actor, details={"day": day}))
    session.commit()
    return session


def test_events_list_newest_first_with_filters(logged):
    events, total = audit.list_events(logged)
    assert total == 4 and [e.occurred_at.day for e in events] == [4, 3, 2, 1]
    assert audit.list_events(logged, audit.AuditFilter(action="login."))[1] == 2
    assert audit.list_events(logged, audit.AuditFilter(action="login"))[1] == 0
    assert audit.list_events(logged, audit.AuditFilter(actor="CLI:"))[1] == 2
    window = audit.AuditFilter(since=at(2), until=at(4))
    assert [e.action for e in audit.list_events(logged, window)[0]] == ["token.create", "login.failure"]
    page, total = audit.list_events(logged, limit=1, offset=1)
    assert total == 4 and page[0].occurred_at.day == 3


def test_the_application_cannot_change_or_delete_an_event(logged):
    event = audit.list_events(logged)[0][0]
    event.actor = "someone else"
    with pytest.raises(PermissionError, match="append-only"):
        logged.flush()
    logged.rollback()
    logged.delete(audit.list_events(logged)[0][0])
    with pytest.raises(PermissionError, match="append-only"):
        logged.flush()


def test_csv_export_is_oldest_first_and_neutralises_formulas(logged):
    out = io.StringIO()
    assert audit.write_csv(audit.iter_events(logged), out) == 4
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["action"] for r in rows] == ["login.success", "login.failure", "token.create", "roster.import"]
    assert rows[1]["actor"].startswith("'=HYPERLINK")
    assert rows[0]["details"] == '{"day": 1}'


def test_kb_audit_export_writes_filtered_csv_and_records_the_export(runner, logged, tmp_path):
    result = runner.invoke(["audit", "export", "--action", "login.", "--since", "2026-11-01", "--until", "2026-11-02"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(audit.CSV_COLUMNS) and len(lines) == 3
    out = tmp_path / "audit.csv"
    assert runner.invoke(["audit", "export", "-o", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8").count("\n") == 6  # header, 4 events, the first export
    assert audit.list_events(logged, audit.AuditFilter(action="audit.export"))[1] == 2
