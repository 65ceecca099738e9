"""`kb audit export`: the audit log as CSV."""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import click

from kb_app import audit, db
from kb_app.cli.db import cli_actor, database_option, open_current_engine


@click.group("audit")
def audit_group() -> None:
    """The append-only audit log."""


@audit_group.command("export")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file instead of stdout."
)
@click.option("--action", help="Exact action (login.failure) or a prefix ending in a dot (login.).")
@click.option("--actor", help="Substring of the actor.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC), inclusive.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC), inclusive.")
@database_option
def export_command(output, action, actor, since, until, database_url) -> None:
    """Write audit events, oldest first, as CSV."""
    where = audit.AuditFilter(
        action=action,
        actor=actor,
        since=_start_of(since.date()) if since else None,
        until=_start_of(until.date() + timedelta(days=1)) if until else None,
    )
    engine = open_current_engine(database_url)
    try:
        with db.session_scope(engine) as session:
            if output is None:
                count = audit.write_csv(audit.iter_events(session, where), sys.stdout)
            else:
                with output.open("w", encoding="utf-8", newline="") as handle:
                    count = audit.write_csv(audit.iter_events(session, where), handle)
            audit.record(
                session, "audit.export", actor=cli_actor(), target=str(output or "stdout"), details={"rows": count}
            )
    finally:
        engine.dispose()
    if output is not None:
        click.echo(f"wrote {count} events to {output}", err=True)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)


def register(main: click.Group) -> None:
    main.add_command(audit_group)
