"""`kb publish`, `kb report coverage`, `kb remind`: publishing and acknowledgement tracking."""

from __future__ import annotations

import csv
import getpass
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from kb_app.acks import rollups
from kb_app.acks.coverage import CoverageFilter, ReportError, coverage
from kb_app.acks.publishing import sync_assignments
from kb_app.acks.reminders import plan_reminders, send_reminders
from kb_app.catalog import load_catalog, validate_catalog
from kb_app.cli._common import (
    UserError,
    echo_json,
    json_option,
    report_mail,
    send_mail,
    settings_from,
    sop_dir_option,
    window_hours_option,
)
from kb_app.db import engine_for, session_factory, session_scope
from kb_app.quizzes.library import load_directory
from kb_app.releases import site_options_for
from kb_app.services import publishing


def _now() -> datetime:
    return datetime.now(timezone.utc)


@click.command("publish")
@sop_dir_option
@click.option("--dry-run", is_flag=True, help="Show what would be recorded and who would be asked; write nothing.")
@click.option("--by", "published_by", default=None, help="Who publishes (default: the OS user).")
@click.option(
    "--due-days",
    type=click.IntRange(1, 365),
    default=None,
    help="Days to acknowledge a change (KB_ACK_DUE_DAYS, default 7).",
)
@click.option("--no-index", is_flag=True, help="Leave the search index alone (it then lags the release).")
@click.option("--no-site", is_flag=True, help="Leave the built sites alone (they then lag the release).")
@json_option
def publish_command(
    sop_dir: Path,
    dry_run: bool,
    published_by: str | None,
    due_days: int | None,
    no_index: bool,
    no_site: bool,
    as_json: bool,
) -> None:
    """Record new SOP versions and open acknowledgement requirements, in one transaction.

    The search index and both sites are rebuilt from the same files and swapped in as the
    transaction commits, so agents are asked to acknowledge only text that they can read.
    """
    settings = settings_from(sop_dir=sop_dir)
    catalog = load_catalog(settings.sop_dir)
    report = validate_catalog(catalog, against=None)
    if not report.ok:
        for problem in report.errors:
            click.echo(str(problem), err=True)
        count = len(report.errors)
        raise UserError(
            f"{count} error{'s' if count != 1 else ''} in {sop_dir}: fix them before publishing (nothing was published)"
        )
    now = _now()
    days = due_days or settings.ack_due_days
    quiz_banks = load_directory(settings.quiz_dir)
    notes: list[str] = []
    warmed = 0
    try:
        with session_scope(engine_for(settings.database_url)) as session:
            if dry_run:
                plan = publishing.preview_release(session, catalog, quiz_banks, now=now, due_days=days)
            else:
                done = publishing.publish_release(
                    session,
                    catalog,
                    quiz_banks,
                    now=now,
                    by=published_by or f"cli:{getpass.getuser()}",
                    due_days=days,
                    onboarding_days=settings.onboarding_days,
                    index_dir=None if no_index else settings.index_dir,
                    site_dir=None if no_site else settings.site_dir,
                    site_options=site_options_for(settings),
                )
                plan, notes, warmed = done.plan, done.notes, done.warmed
    except publishing.PublishRefused as refused:
        for problem in refused.problems:
            click.echo(problem, err=True)
        raise UserError("publish refused: nothing was recorded") from None
    if as_json:
        echo_json({**plan.to_dict(), "dry_run": dry_run})
        return
    verb = "would record" if dry_run else "recorded"
    for item in plan.changes:
        line = f"{item.sop_id:<28} {item.action:<8} {item.previous_version or '-':>6} -> {item.version:<6}"
        if item.opens_requirement:
            line += f"  ack by {item.due_at:%Y-%m-%d %H:%M} UTC from {item.population} agents"
        if item.closes:
            line += f"  closes {', '.join(item.closes)}"
        if item.quiz_gates:
            line += f"  counts after quiz {', '.join(item.quiz_gates)}"
        if item.unchanged_tiers:
            asked = "not asked again" if item.opens_requirement else "nothing to acknowledge"
            line += f"  {'/'.join(item.unchanged_tiers)} text unchanged: {asked}"
        click.echo(line)
    for translation in plan.translations:
        click.echo(
            f"{translation.sop_id:<28} {translation.language:<8} translation of v{translation.source_version} ({translation.action})"
        )
    click.echo(
        f"{verb} {len(plan.changes)} versions and {len(plan.translations)} translations; "
        f"{len(plan.items) - len(plan.changes)} unchanged"
    )
    if warmed:
        click.echo(f"banners and reading lists computed ahead for {warmed:,} agents")
    for note in notes:
        click.echo(note, err=True)


@click.group("report")
def report_group() -> None:
    """Reports on acknowledgement coverage."""


@report_group.command("coverage")
@click.option(
    "--by",
    default="requirement",
    show_default=True,
    help="Comma-separated: requirement, sop, vendor, site, team, team_leader, language, tier.",
)
@click.option("--requirement", "requirement_id", type=int, help="Only this requirement.")
@click.option("--sop", "sop_id", help="Only requirements of this SOP.")
@click.option("--vendor", help="Only this vendor's agents.")
@click.option("--site", help="Only this site's agents.")
@click.option("--include-closed", is_flag=True, help="Include closed (superseded, retired) requirements.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option(
    "--verify",
    is_flag=True,
    help="Recompute the coverage rollups from the assignment rows and list every cell that differs (exit 1).",
)
@click.option("--repair", is_flag=True, help="Recompute every coverage rollup cell from the rows.")
@json_option
def coverage_command(
    by: str,
    requirement_id,
    sop_id,
    vendor,
    site,
    include_closed: bool,
    as_csv: bool,
    verify: bool,
    repair: bool,
    as_json: bool,
) -> None:
    """Population, acknowledged on time / late, pending, overdue, median hours to acknowledge."""

    settings = settings_from()
    if verify or repair:
        _check_rollups(settings, repair=repair, as_json=as_json)
        return
    flt = CoverageFilter(
        requirement_id=requirement_id, sop_id=sop_id, vendor=vendor, site=site, open_only=not include_closed
    )
    groups = [g.strip() for g in by.split(",") if g.strip()]
    try:
        with session_scope(engine_for(settings.database_url)) as session:
            rows = [row.to_dict() for row in coverage(session, by=groups, now=_now(), flt=flt)]
    except ReportError as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        echo_json(rows)
    elif as_csv:
        if rows:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        if not rows:
            click.echo("no open requirements")
        for row in rows:
            label = " / ".join(str(row[g]) for g in row if g not in COUNT_COLUMNS)
            line = (
                f"{label:<40} {row['acknowledged_pct']:>5}%  pop {row['population']:>6}  on time {row['on_time']:>6}  "
                f"late {row['late']:>5}  pending {row['pending']:>6}  overdue {row['overdue']:>6}"
            )
            if row["awaiting_quiz"]:
                line += f"  ({row['awaiting_quiz']} acknowledged, awaiting quiz)"
            click.echo(line)


def _check_rollups(settings, *, repair: bool, as_json: bool) -> None:
    with session_scope(engine_for(settings.database_url)) as session:
        if repair:
            wrong = rollups.repair(session)
            differences = []
        else:
            differences = rollups.verify(session)
    if as_json:
        echo_json(
            {
                "ok": not differences,
                "differences": [d.to_dict() for d in differences],
                **({"repaired": wrong} if repair else {}),
            }
        )
    elif repair:
        click.echo(f"recomputed the coverage rollups from the rows: {wrong} cells were wrong")
    elif differences:
        for difference in differences:
            click.echo(str(difference))
        click.echo(f"{len(differences)} coverage rollup cells differ from their rows (kb report coverage --repair)")
    else:
        click.echo("coverage rollups match the assignment rows")
    if differences:
        raise SystemExit(1)


COUNT_COLUMNS = {
    "population",
    "on_time",
    "late",
    "pending",
    "overdue",
    "awaiting_quiz",
    "acknowledged_pct",
    "median_hours_to_ack",
}


@click.command("remind")
@click.option("--dry-run", is_flag=True, help="List the reminders; send nothing.")
@window_hours_option
@json_option
def remind_command(dry_run: bool, window_hours: int, as_json: bool) -> None:
    """E-mail agents with items due within a day or overdue, and partner managers a digest."""

    settings = settings_from()
    engine = engine_for(settings.database_url)
    now = _now()
    with session_factory(engine)() as session:
        if not dry_run:
            sync_assignments(session, now=now, onboarding_days=settings.onboarding_days)
            session.commit()
        reminders = plan_reminders(session, now=now, window=timedelta(hours=window_hours), base_url=settings.base_url)
        sent = 0 if dry_run else send_mail(settings, lambda: send_reminders(session, reminders, settings, now=now))
    report_mail(reminders, "reminders", key="reminders", dry_run=dry_run, sent=sent, as_json=as_json)


def register(main: click.Group) -> None:
    main.add_command(publish_command)
    main.add_command(report_group)
    main.add_command(remind_command)
