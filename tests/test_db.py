"""The database layer: migrations, connection settings, constraints kept in the schema."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from kb_app import db, models
from kb_app.models import Agent, AuditEvent, User


def test_migrations_build_an_empty_database_up_to_head_and_back(empty_db_url):
    engine = db.engine_for(empty_db_url)
    try:
        assert db.current_revision(engine) is None
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"agents", "users", "api_tokens", "audit_events"} <= tables
        db.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


@pytest.mark.fresh_db
def test_models_and_migrations_agree(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, models.Base.metadata)
    assert differences == []


def test_the_coverage_rollup_triggers_exist_at_head(session, db_backend):
    # SQLite drops a table's triggers when a batch migration rebuilds it: a later migration of
    # assignments or agents that forgets to recreate them fails here.
    from kb_app.models.rollups import TRIGGER_NAMES

    query = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        if db_backend == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    )
    names = set(session.execute(text(query)).scalars())
    assert set(TRIGGER_NAMES) <= names


@pytest.mark.fresh_db
def test_upgrading_twice_changes_nothing(engine):
    db.upgrade(engine)
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(engine, db_backend):
    if db_backend != "sqlite":
        pytest.skip("SQLite connection settings")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_sqlite_folder_is_created_for_a_new_database_file(tmp_path):
    engine = db.engine_for(f"sqlite:///{tmp_path / 'deep' / 'er' / 'kb.sqlite3'}")
    db.ping(engine)
    engine.dispose()
    assert (tmp_path / "deep" / "er" / "kb.sqlite3").exists()


def _agent(**overrides) -> Agent:
    values = {
        "employee_id": "E1",
        "name": "A",
        "email": "a@example.com",
        "tier": "T1",
        "vendor": "northwind-bpo",
        "site": "manila",
        "team": "T",
        "language": "en",
        "start_date": date(2025, 1, 1),
    }
    values.update(overrides)
    return Agent(**values)


def test_unknown_tier_is_refused_by_the_schema(session):
    session.add(_agent(tier="T3"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_employee_id_is_unique(session):
    session.add(_agent())
    session.flush()
    session.add(_agent(email="b@example.com"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_partner_manager_without_vendor_is_refused_by_the_schema(session):
    session.add(User(email="pm@example.com", role="partner_manager", session_nonce="n"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_agent_user_without_roster_entry_is_refused_by_the_schema(session):
    session.add(User(email="a@example.com", role="agent", session_nonce="n"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_foreign_keys_are_enforced(session):
    session.add(User(email="x@example.com", role="agent", agent_id=999, session_nonce="n"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_timestamps_come_back_timezone_aware_in_utc(session):
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
    session.add(AuditEvent(action="test", occurred_at=moment))
    session.commit()
    session.expire_all()
    event = session.query(AuditEvent).one()
    assert event.occurred_at == moment
    assert event.occurred_at.tzinfo is not None


def test_naive_timestamps_are_refused(session):
    session.add(AuditEvent(action="test", occurred_at=datetime(2026, 3, 1, 12, 30)))
    with pytest.raises(Exception, match="timezone-aware"):
        session.flush()


@pytest.mark.fresh_db
@pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"])
def test_the_database_refuses_to_change_audit_events(engine, statement):
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (occurred_at, action, actor, target, ip, details) "
                "VALUES (CURRENT_TIMESTAMP, 'login.success', 'a', '', '', '{}')"
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT actor FROM audit_events")).scalars().all() == ["a"]


def test_kb_db_upgrade_is_idempotent_and_kb_db_current_reports_the_head(runner, empty_db_url):
    env = {**runner.env, "KB_DATABASE_URL": empty_db_url}
    from click.testing import CliRunner

    from kb_app.cli import main

    first = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert first.exit_code == 0, first.output
    assert "upgraded empty ->" in first.output
    second = CliRunner().invoke(main, ["db", "upgrade", "--json"], env=env)
    assert second.exit_code == 0
    assert '"from": "' + db.head_revision() in second.output
    current = CliRunner().invoke(main, ["db", "current"], env=env)
    assert current.exit_code == 0
    assert db.head_revision() in current.output


def test_kb_db_current_exits_1_on_an_empty_database(runner, empty_db_url):
    from click.testing import CliRunner

    from kb_app.cli import main

    result = CliRunner().invoke(main, ["db", "current"], env={**runner.env, "KB_DATABASE_URL": empty_db_url})
    assert result.exit_code == 1


def test_commands_that_need_tables_say_to_run_kb_db_upgrade(runner, empty_db_url):
    from click.testing import CliRunner

    from kb_app.cli import main

    result = CliRunner().invoke(main, ["roster", "export"], env={**runner.env, "KB_DATABASE_URL": empty_db_url})
    assert result.exit_code == 1
    assert "kb db upgrade" in result.stderr


def test_database_passwords_are_hidden_in_messages():
    engine = db.engine_for("postgresql+psycopg://kb:s3cret%25pw@db.invalid/kb")
    from kb_app.cli.db import safe_url

    assert "s3cret" not in safe_url(engine)
    engine.dispose()
