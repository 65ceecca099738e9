"""`kb translations status`: every SOP x language with its translation state."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from kb_app.catalog import load_catalog
from kb_app.catalog.languages import is_iso639_1
from kb_app.catalog.staleness import status_table
from kb_app.cli._common import echo_json, json_option, settings_from, sop_dir_option


@click.group("translations")
def translations_group() -> None:
    """Translations of the SOPs into the BPO languages."""


@translations_group.command("status")
@sop_dir_option
@click.option("--language", metavar="L", help="Only this language (ISO 639-1, e.g. es).")
@click.option("--fail-on-stale", is_flag=True, help="Exit 1 when a translation is stale (for CI).")
@json_option
def status_command(sop_dir: Path, language: str | None, fail_on_stale: bool, as_json: bool) -> None:
    """Table every SOP x language: current, minor-behind, stale or missing, and the change it misses."""
    if language is not None and not is_iso639_1(language):
        raise click.BadParameter(f"{language!r} is not an ISO 639-1 code (for example es)", param_hint="--language")
    catalog = load_catalog(sop_dir)
    for problem in catalog.problems:
        click.echo(str(problem), err=True)
    rows = status_table(catalog, settings_from().language_list, date.today(), language=language)
    if as_json:
        echo_json([row.to_dict() for row in rows])
    else:
        widths = (24, 4, 13, 7, 11, 6)
        head = ("SOP", "lang", "state", "source", "translated", "days")
        click.echo("  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  missing change")
        for row in rows:
            cells = (
                row.sop_id,
                row.language,
                row.state.value,
                row.source_version,
                row.translated_version or "-",
                "" if row.days_stale is None else str(row.days_stale),
            )
            click.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + row.missed_summary[:100])
    if fail_on_stale and any(row.state.value == "stale" for row in rows):
        raise SystemExit(1)


def register(main: click.Group) -> None:
    main.add_command(translations_group)
