"""`kb report readiness`: who is ready for a crisis, by roster dimension, and how the open
bulletins are landing (the figures of the Readiness page)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from kb_app.acks.crisis import ReadinessError, ReadinessFilter, readiness_report
from kb_app.cli._common import UserError, echo_json, json_option, settings_from
from kb_app.cli.publish import report_group
from kb_app.cli.quiz import quiz_dir_option
from kb_app.db import engine_for, session_scope
from kb_app.quizzes.library import load_directory


@click.command("readiness")
@click.option(
    "--by",
    default="vendor,site",
    show_default=True,
    help="Comma-separated: vendor, site, team, team_leader, language, tier.",
)
@click.option("--vendor", help="Only this vendor's agents.")
@click.option("--site", help="Only this site's agents.")
@click.option("--team", help="Only this team's agents.")
@quiz_dir_option
@json_option
def readiness_command(by: str, vendor, site, team, quiz_dir: Path, as_json: bool) -> None:
    """Ready agents (active, certified, every open requirement covered) against headcount, and
    each open bulletin's projected time to full coverage by vendor."""
    settings = settings_from()
    groups = [g.strip() for g in by.split(",") if g.strip()]
    loaded = load_directory(quiz_dir)
    if not loaded.complete:
        for problem in loaded.problems:
            if problem.is_error:
                click.echo(str(problem), err=True)
        raise UserError("the quiz banks do not load, so certification cannot be judged; fix them first")
    flt = ReadinessFilter(vendor=vendor, site=site, team=team)
    now = datetime.now(timezone.utc)
    try:
        with session_scope(engine_for(settings.database_url)) as session:
            report = readiness_report(session, by=groups, now=now, banks=loaded, flt=flt)
    except ReadinessError as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        echo_json(report.to_dict())
        return
    total = report.total
    click.echo(f"ready: {total.ready} of {total.headcount} active agents ({total.percent_ready}%)")
    for row in report.rows:
        label = " / ".join(str(row.group[g]) for g in groups) or "all"
        click.echo(
            f"{label:<40} {row.percent_ready:>5}%  ready {row.ready:>6} of {row.headcount:>6}  "
            f"not certified {row.not_certified:>5}  not acknowledged {row.not_acknowledged:>5}  "
            f"awaiting quiz {row.awaiting_quiz:>5}"
        )
    for bulletin in report.bulletins:
        click.echo("")
        click.echo(
            f"{bulletin.sop_id} v{bulletin.version}: {bulletin.overall.acknowledged} of {bulletin.overall.population} "
            f"acknowledged, due {bulletin.due_at:%Y-%m-%d %H:%M} UTC: {bulletin.overall.note}"
        )
        for projection in bulletin.by_vendor:
            when = f", full by {projection.projected_at:%Y-%m-%d %H:%M} UTC" if projection.projected_at else ""
            click.echo(
                f"  {projection.vendor:<24} {projection.acknowledged:>6} of {projection.population:<6}"
                f" {projection.note}{when}"
            )


def register(main: click.Group) -> None:
    report_group.add_command(readiness_command)
