"""`kb digest send`: the weekly digest to the LOB lead(s) and each partner manager."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from kb_app.cli._common import UserError, json_option, report_mail, send_mail, settings_from
from kb_app.cli.quiz import quiz_dir_option
from kb_app.db import engine_for, session_factory
from kb_app.quizzes.library import load_directory
from kb_app.services import digest


@click.group("digest")
def digest_group() -> None:
    """The weekly e-mail digest: coverage, readiness and more, with a link to each page."""


@digest_group.command("send")
@click.option("--dry-run", is_flag=True, help="List the digests this week still owes; send and record nothing.")
@quiz_dir_option
@json_option
def send_command(dry_run: bool, quiz_dir: Path, as_json: bool) -> None:
    """E-mail this week's digest to every active lead and partner manager who has not had it
    (run it weekly from cron; a second run in the same week sends nothing)."""
    settings = settings_from()
    loaded = load_directory(quiz_dir)
    if not loaded.complete:
        for problem in loaded.problems:
            if problem.is_error:
                click.echo(str(problem), err=True)
        raise UserError("the quiz banks do not load, so readiness cannot be judged; fix them first")
    now = datetime.now(timezone.utc)
    with session_factory(engine_for(settings.database_url))() as session:
        planned = digest.plan_digests(session, now=now, banks=loaded)
        sent = 0 if dry_run else send_mail(settings, lambda: digest.send_digests(session, planned, settings, now=now))
    report_mail(planned, "digests", key="digests", dry_run=dry_run, sent=sent, as_json=as_json)


def register(main: click.Group) -> None:
    main.add_command(digest_group)
