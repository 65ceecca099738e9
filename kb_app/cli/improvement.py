"""`kb gaps` and `kb actions`: the candidate gaps from every signal, and the action plans (list,
CSV export, reminders to owners)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from kb_app.catalog import load_catalog
from kb_app.cli._common import (
    echo_json,
    json_option,
    report_mail,
    send_mail,
    settings_from,
    sop_dir_option,
    window_hours_option,
)
from kb_app.db import engine_for, session_factory
from kb_app.exports import csv_text
from kb_app.improvement import actions, gaps
from kb_app.models.improvement import ACTION_STATUSES
from kb_app.search import SearchService


def _now() -> datetime:
    return datetime.now(timezone.utc)


@click.command("gaps")
@sop_dir_option
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=gaps.DEFAULT_DAYS,
    show_default=True,
    help="Count the signals of the last this many days.",
)
@click.option("--vendor", default=None, help="Only this vendor's agents' signals.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most this many gaps.")
@json_option
def gaps_command(sop_dir: Path, days: int, vendor: str | None, limit: int, as_json: bool) -> None:
    """Candidate gaps per SOP section, highest score first, each with its evidence and likely kind."""
    settings = settings_from(sop_dir=sop_dir)
    now = _now()
    catalog = load_catalog(settings.sop_dir) if settings.sop_dir.is_dir() else None
    matcher = gaps.search_matcher(SearchService(settings.index_dir))
    query = gaps.GapQuery(since=now - timedelta(days=days), now=now, vendor=vendor)
    with session_factory(engine_for(settings.database_url))() as session:
        found = gaps.find_gaps(
            session, query, matcher=matcher, sops=catalog.sops.values() if catalog else (), limit=limit
        )
    if as_json:
        echo_json(
            {
                "since": query.since.isoformat(),
                "now": now.isoformat(),
                "vendor": vendor,
                "gaps": [g.to_dict() for g in found],
            }
        )
        return
    if not found:
        click.echo(f"no gap in the last {days} days")
        return
    for gap in found:
        where = f"{gap.key}" + (f" ({gap.section})" if gap.section else "")
        click.echo(f"{gap.score:6.1f}  {gap.kind:<8}  {where}")
        click.echo(f"        likely {gap.kind}: {gap.rule}")
        for e in gap.evidence:
            click.echo(f"        - {e.signal}: {e.summary}" + (f"  [{e.link}]" if e.link else ""))


@click.group("actions")
def actions_group() -> None:
    """Action plans: owned fixes for the gaps."""


@actions_group.command("list")
@click.option("--status", type=click.Choice(ACTION_STATUSES), default=None, help="Only actions in this status.")
@json_option
def list_command(status: str | None, as_json: bool) -> None:
    """Actions, open ones first by due date; overdue ones marked."""
    settings = settings_from()
    today = _now().date()
    with session_factory(engine_for(settings.database_url))() as session:
        rows = [r for r in actions.export_rows(session, today=today) if status is None or r["status"] == status]
    if as_json:
        echo_json({"actions": rows})
        return
    for row in rows:
        flag = "  OVERDUE" if row["overdue"] else ""
        click.echo(
            f"{row['id']:>5}  {row['status']:<11} due {row['due_date']}{flag}  {row['owner_email']}  {row['title']}"
        )
    click.echo(f"{len(rows)} actions")


@actions_group.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the CSV here (default: standard output).",
)
def export_command(output: Path | None) -> None:
    """Every action as CSV (spreadsheet-safe)."""
    settings = settings_from()
    with session_factory(engine_for(settings.database_url))() as session:
        text = csv_text(list(actions.EXPORT_COLUMNS), actions.export_rows(session, today=_now().date()))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@actions_group.command("remind")
@click.option("--dry-run", is_flag=True, help="List the reminders; send nothing.")
@window_hours_option
@json_option
def remind_command(dry_run: bool, window_hours: int, as_json: bool) -> None:
    """E-mail the owners of actions due within two days or overdue."""
    settings = settings_from()
    now = _now()
    with session_factory(engine_for(settings.database_url))() as session:
        reminders = actions.plan_owner_reminders(
            session, now=now, window=timedelta(hours=window_hours), base_url=settings.base_url
        )

        def send() -> int:
            return actions.send_owner_reminders(session, reminders, settings, now=now)

        sent = 0 if dry_run else send_mail(settings, send)
    report_mail(reminders, "reminders", key="reminders", dry_run=dry_run, sent=sent, as_json=as_json)


def register(main: click.Group) -> None:
    main.add_command(gaps_command)
    main.add_command(actions_group)
