"""`kb db`: create or upgrade the database schema (Alembic migrations)."""

from __future__ import annotations

import getpass

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from kb_app import db, shared_state
from kb_app.cli._common import UserError, echo_json, json_option, settings_from


def database_option(func):
    return click.option(
        "--database-url",
        envvar="KB_DATABASE_URL",
        default=None,
        help="SQLAlchemy URL (KB_DATABASE_URL); default sqlite:///var/kb.sqlite3.",
    )(func)


def open_engine(database_url: str | None) -> Engine:
    """The engine of `--database-url` (else the settings'); what the command changes reaches
    running servers' caches through the configured Redis either way."""
    settings = settings_from()
    url = database_url or settings.database_url
    shared_state.ensure(url, settings.redis_url)
    return db.engine_for(url)


def open_current_engine(database_url: str | None) -> Engine:
    """An engine for a database whose schema is at the newest revision; else a user error."""
    engine = open_engine(database_url)
    try:
        current = db.current_revision(engine)
    except Exception as exc:  # noqa: BLE001 - the driver's own message is the useful part
        raise UserError(f"cannot reach the database {safe_url(engine)}: {exc}") from exc
    if current != db.head_revision():
        raise UserError(f"the database {safe_url(engine)} is not up to date: run `kb db upgrade` first")
    return engine


def safe_url(engine: Engine) -> str:
    return make_url(engine.url).render_as_string(hide_password=True)


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


@click.group("db")
def db_group() -> None:
    """Database schema: upgrade to the newest revision, show the current one."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@database_option
@json_option
def upgrade_command(revision: str, database_url: str | None, as_json: bool) -> None:
    """Create the tables or bring them up to date. Safe to run again."""
    engine = open_engine(database_url)
    try:
        before = db.current_revision(engine)
        db.upgrade(engine, revision)
        after = db.current_revision(engine)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot upgrade {safe_url(engine)}: {exc}") from exc
    finally:
        engine.dispose()
    if as_json:
        echo_json({"database": safe_url(engine), "from": before, "to": after})
    elif before == after:
        click.echo(f"{safe_url(engine)}: already at revision {after}")
    else:
        click.echo(f"{safe_url(engine)}: upgraded {before or 'empty'} -> {after}")


@db_group.command("current")
@database_option
@json_option
def current_command(database_url: str | None, as_json: bool) -> None:
    """Show the schema revision of the database and the newest one; exit 1 if behind."""
    engine = open_engine(database_url)
    try:
        current, head = db.current_revision(engine), db.head_revision()
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot reach the database {safe_url(engine)}: {exc}") from exc
    finally:
        engine.dispose()
    if as_json:
        echo_json({"database": safe_url(engine), "current": current, "head": head, "up_to_date": current == head})
    else:
        click.echo(f"{safe_url(engine)}: revision {current or 'none'} (newest {head})")
    if current != head:
        raise SystemExit(1)


def register(main: click.Group) -> None:
    main.add_command(db_group)
