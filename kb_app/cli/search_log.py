"""`kb search-log purge`: keep search analytics for a bounded time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import click

from kb_app.cli._common import echo_json, json_option
from kb_app.config import Settings
from kb_app.db import engine_for, session_scope
from kb_app.search_log import purge_before


@click.group("search-log")
def search_log_group() -> None:
    """Search analytics data (queries and clicks)."""


@search_log_group.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(1, 3650),
    default=365,
    show_default=True,
    help="Delete searches older than this many days.",
)
@json_option
def purge_command(days: int, as_json: bool) -> None:
    """Delete logged searches (and their clicks) older than --older-than days. Cron-friendly."""

    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    with session_scope(engine_for(Settings.from_env().database_url)) as session:
        deleted = purge_before(session, cutoff)
    if as_json:
        echo_json({"deleted": deleted, "cutoff": cutoff.isoformat()})
    else:
        click.echo(f"deleted {deleted} searches logged before {cutoff:%Y-%m-%d %H:%M} UTC")


def register(main: click.Group) -> None:
    main.add_command(search_log_group)
