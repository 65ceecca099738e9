"""Small pieces shared by the `kb` command modules: settings options and error printing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from kb_app import shared_state
from kb_app.config import Settings


class UserError(click.ClickException):
    """A problem the user must fix: printed to stderr, exit code 1."""

    exit_code = 1

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(self.format_message(), err=True)


def settings_from(**overrides: Any) -> Settings:
    settings = Settings.from_env(**overrides)
    # What a command changes (a publish, a roster import) reaches the caches of running servers.
    shared_state.ensure(settings.database_url, settings.redis_url)
    return settings


def sop_dir_option(func):
    return click.option(
        "--sop-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="KB_SOP_DIR",
        default="sop",
        show_default=True,
        help="Directory of SOP Markdown files (KB_SOP_DIR).",
    )(func)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def progress(message: str) -> None:
    """Progress for long work goes to stderr so --json output on stdout stays clean."""
    click.echo(message, err=True)


def window_hours_option(func):
    return click.option(
        "--window-hours",
        type=click.IntRange(1, 24 * 14),
        default=24,
        show_default=True,
        help="Never send the same reminder twice within this many hours.",
    )(func)


def send_mail(settings: Settings, send: Callable[[], int]) -> int:
    """`send()` (which mails and returns how many went out); an SMTP server that cannot be
    reached is a UserError naming it."""
    try:
        return send()
    except OSError as error:
        raise UserError(f"cannot send mail through {settings.smtp_host}:{settings.smtp_port}: {error}") from None


def report_mail(items: Sequence[Any], noun: str, *, key: str, dry_run: bool, sent: int, as_json: bool) -> None:
    """What a mailing command planned or sent: one line per message and a count, or JSON
    (`{"dry_run", "sent", key: [...]}`); each item has `recipient`, `subject` and `to_dict()`."""
    if as_json:
        echo_json({"dry_run": dry_run, "sent": sent, key: [item.to_dict() for item in items]})
        return
    for item in items:
        click.echo(f"{'would send' if dry_run else 'sent'}: {item.recipient}: {item.subject}")
    click.echo(f"{len(items)} {noun} {'planned' if dry_run else 'sent'}")
