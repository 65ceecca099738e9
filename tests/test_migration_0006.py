"""Migration 0006 backfills seconds_to_ack for assignments acknowledged before it."""

from __future__ import annotations

from sqlalchemy import text

from kb_app import db


def test_upgrade_backfills_seconds_to_ack(empty_db_url):
    engine = db.engine_for(empty_db_url)
    db.upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO agents (employee_id, name, email, tier, vendor, site, team, language, start_date, active, created_at, updated_at) "
                "VALUES ('E1', 'A', 'a@example.com', 'T1', 'apex-cx', 'bogota', 't', 'es', '2025-01-01', :yes, :t, :t)"
            ),
            {"yes": True, "t": "2026-11-01 08:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO published_versions (sop_id, version, major, minor, kind, status, visibility, title, path, content_hash, tier_hashes, "
                "body, sections, audience, summary, ack_required, published_at, published_by) VALUES ('X', '1.0', 1, 0, 'sop', 'active', 'all', "
                "'X', 'x.md', 'h', '{}', 'b', '[]', '{}', '', :yes, :t, 't')"
            ),
            {"yes": True, "t": "2026-11-01 08:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO requirements (version_id, sop_id, major, minor, opened_at, due_at, is_bulletin) "
                "VALUES (1, 'X', 1, 0, :t, :due, :no)"
            ),
            {"t": "2026-11-01 08:00:00", "due": "2026-11-08 08:00:00", "no": False},
        )
        connection.execute(
            text(
                "INSERT INTO assignments (requirement_id, agent_id, assigned_at, due_at, acknowledged_at) "
                "VALUES (1, 1, :t, :due, :ack)"
            ),
            {"t": "2026-11-01 08:00:00", "due": "2026-11-08 08:00:00", "ack": "2026-11-01 10:30:00"},
        )
    db.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT seconds_to_ack FROM assignments")).scalar_one() == 9000
    engine.dispose()
