"""`kb validate`, `kb catalog` and `kb diff`: the SOP catalog from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from kb_app.catalog import diff_texts, load_catalog, validate_catalog
from kb_app.catalog.gitrev import GitUnavailable, load_at_revision
from kb_app.cli._common import UserError, echo_json, json_option, sop_dir_option
from kb_app.quizzes import catalog_index, validate_banks, visible_by_tier
from kb_app.quizzes.bank import read_banks
from kb_app.quizzes.translations import load_translations, versions_index


def run_validation(sop_dir: Path, against: str | None, quiz_dir: Path | None = None):
    """Validate the SOPs, then the quiz banks against the SOP sections they cite."""

    report = validate_catalog(load_catalog(sop_dir), against=against)
    if quiz_dir is not None:
        sections, versions = catalog_index(report.catalog)
        visible = visible_by_tier(report.catalog)
        report.problems.extend(validate_banks(quiz_dir, sections, versions, visible))
        banks = read_banks(quiz_dir, sections=sections, versions=versions, visible=visible).banks
        report.problems.extend(load_translations(quiz_dir, banks, versions_index(report.catalog)[0]).problems)
        report.problems.sort()
    return report


@click.command("validate")
@sop_dir_option
@click.option(
    "--quiz-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="KB_QUIZ_DIR",
    default="quizzes",
    show_default=True,
    help="Directory of quiz banks (KB_QUIZ_DIR).",
)
@click.option(
    "--against",
    default="HEAD",
    show_default=True,
    metavar="REV",
    help="Git revision to compare with: a changed text needs a version bump.",
)
@click.option("--no-git", is_flag=True, help="Skip the comparison with git.")
@json_option
def validate_command(sop_dir: Path, quiz_dir: Path, against: str, no_git: bool, as_json: bool) -> None:
    """Check every SOP (and quiz bank); report all problems as path:line: message.

    Exit 0 when there are no errors (warnings allowed), 1 when there are errors.
    """
    report = run_validation(sop_dir, None if no_git else against, quiz_dir)
    if as_json:
        echo_json(
            {
                "ok": report.ok,
                "sops": len(report.catalog),
                "errors": len(report.errors),
                "warnings": len(report.warnings),
                "problems": [p.to_dict() for p in report.problems],
            }
        )
    else:
        for problem in report.problems:
            click.echo(str(problem), err=True)
        summary = f"{_count(len(report.catalog), 'SOP')} checked: {_count(len(report.errors), 'error')}, {_count(len(report.warnings), 'warning')}"
        click.echo(summary, err=not report.ok)
    if not report.ok:
        raise SystemExit(1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@click.command("catalog")
@sop_dir_option
@json_option
def catalog_command(sop_dir: Path, as_json: bool) -> None:
    """List every SOP: id, kind, version, status, audience, visibility, hash, path, sections."""
    catalog = load_catalog(sop_dir)
    for problem in catalog.problems:
        click.echo(str(problem), err=True)
    if as_json:
        echo_json([sop.to_dict() for sop in catalog])
    else:
        for sop in catalog:
            tiers = "/".join(sop.audience.tiers)
            click.echo(
                f"{sop.id:<28} {sop.kind.value:<10} v{sop.version:<6} {sop.status.value:<8} {tiers:<6} {sop.visibility.value:<7} {sop.content_hash[:12]}  {sop.path}"
            )
    if not catalog.ok:
        raise SystemExit(1)


@click.command("diff")
@click.argument("sop_id")
@sop_dir_option
@click.option(
    "--against", default="HEAD", show_default=True, metavar="REV", help="Git revision holding the older text."
)
@json_option
def diff_command(sop_id: str, sop_dir: Path, against: str, as_json: bool) -> None:
    """Show what changed in SOP_ID since a git revision: unified, and section by section."""
    catalog = load_catalog(sop_dir)
    current = catalog.get(sop_id)
    if current is None:
        raise UserError(f"no SOP with id {sop_id} in {sop_dir}")
    try:
        previous = load_at_revision(sop_dir, against).sops.get(sop_id)
    except GitUnavailable as error:
        raise UserError(f"cannot read git revision {against}: {error}") from None
    old_body = previous.body if previous else ""
    result = diff_texts(
        old_body,
        current.body,
        old_label=f"{sop_id} {previous.version if previous else '(none)'}",
        new_label=f"{sop_id} {current.version}",
    )
    if as_json:
        echo_json(
            {
                "sop_id": sop_id,
                "from": previous.version if previous else None,
                "to": current.version,
                **result.to_dict(),
            }
        )
        return
    for change in result.sections:
        if change.status != "unchanged":
            click.echo(f"{change.status:>9}  #{change.anchor or '(lead)'}  {change.heading}")
    click.echo(result.unified, nl=False)


def register(main: click.Group) -> None:
    main.add_command(validate_command)
    main.add_command(catalog_command)
    main.add_command(diff_command)
