"""`kb quiz ...`: check question banks, preview a draw, and move banks to and from Moodle's GIFT."""

from __future__ import annotations

from pathlib import Path

import click

from kb_app.cli._common import UserError, echo_json, json_option
from kb_app.problems import Problem
from kb_app.quizzes.bank import bank_to_yaml, read_banks
from kb_app.quizzes.draw import draw_attempt, taker_view
from kb_app.quizzes.gift import GiftWriteError, bank_to_gift, gift_to_bank
from kb_app.quizzes.schema import BANK_ID, SOURCE


def quiz_dir_option(func):
    return click.option(
        "--quiz-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="KB_QUIZ_DIR",
        default="quizzes",
        show_default=True,
        help="Directory of question bank YAML files (KB_QUIZ_DIR).",
    )(func)


def sop_dir_option(func):
    return click.option(
        "--sop-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="KB_SOP_DIR",
        default="sop",
        show_default=True,
        help="Directory of SOP files, to check cited sections (KB_SOP_DIR).",
    )(func)


def _sop_index(sop_dir: Path):
    """(sections, versions, visible) from the SOP catalog, or Nones when there is no SOP directory."""
    if not sop_dir.is_dir():
        return None, None, None
    from kb_app.catalog import load_catalog
    from kb_app.quizzes.bank import catalog_index, visible_by_tier

    catalog = load_catalog(sop_dir)
    sections, versions = catalog_index(catalog)
    return sections, versions, visible_by_tier(catalog)


def _fail(problems: list[Problem]) -> UserError:
    return UserError("\n".join(str(p) for p in sorted(problems)))


def _echo_warnings(problems: list[Problem]) -> None:
    for problem in problems:
        if not problem.is_error:
            click.echo(str(problem), err=True)


@click.group("quiz")
def quiz_group() -> None:
    """Question banks: validate, preview, and GIFT import/export."""


@quiz_group.command("validate")
@quiz_dir_option
@sop_dir_option
@json_option
def validate_command(quiz_dir: Path, sop_dir: Path, as_json: bool) -> None:
    """Check every bank in the quiz directory (and its citations, when the SOP directory exists)."""
    sections, versions, visible = _sop_index(sop_dir)
    result = read_banks(quiz_dir, sections=sections, versions=versions, visible=visible)
    if as_json:
        echo_json({
            "ok": result.ok,
            "banks": sorted(result.banks),
            "checked_citations": sections is not None,
            "problems": [p.to_dict() for p in result.problems],
        })
    else:
        _echo_warnings(result.problems)
    if not result.ok:
        if as_json:
            raise SystemExit(1)
        raise _fail([p for p in result.problems if p.is_error])
    if not as_json:
        click.echo(f"{len(result.banks)} bank(s) OK" + ("" if sections is not None else " (citations not checked: no SOP directory)"))


@quiz_group.command("preview")
@click.argument("bank_id")
@click.option("--seed", default="preview", show_default=True, help="Seed of the draw; the same seed gives the same attempt.")
@quiz_dir_option
def preview_command(bank_id: str, seed: str, quiz_dir: Path) -> None:
    """Print what an agent would see for one draw of BANK_ID, as JSON (no answers in it)."""
    bank = _load_one(quiz_dir, bank_id)
    echo_json(taker_view(bank, draw_attempt(bank, seed)))


@quiz_group.command("import-gift")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--bank", "bank_id", required=True, help="Id of the new bank (lower case, digits, dashes).")
@click.option("--title", help="Bank title (default: the bank id).")
@click.option("--source", "default_source", help="SOP-ID#anchor for questions without a `// source:` comment.")
@click.option("--kind", type=click.Choice(["certification", "update"]), default="certification", show_default=True)
@click.option("--tier", type=click.Choice(["T1", "T2"]), default="T1", show_default=True)
@click.option("--version", "sop_version", help="For update banks: the SOP version the quiz belongs to.")
@click.option("--skip-unsupported", is_flag=True, help="Leave out questions with no bank equivalent (warn) instead of failing.")
@quiz_dir_option
@sop_dir_option
@json_option
def import_gift_command(
    file: Path,
    bank_id: str,
    title: str | None,
    default_source: str | None,
    kind: str,
    tier: str,
    sop_version: str | None,
    skip_unsupported: bool,
    quiz_dir: Path,
    sop_dir: Path,
    as_json: bool,
) -> None:
    """Write a new bank QUIZ_DIR/<bank>.yml from a GIFT file. Nothing is written on any error."""
    if not BANK_ID.match(bank_id):
        raise UserError(f"--bank {bank_id!r}: use lower-case letters, digits and dashes (e.g. ato-recovery-t1)")
    if default_source is not None and not SOURCE.match(default_source):
        raise UserError(f"--source {default_source!r}: expected SOP-ID#anchor (e.g. ATO-RECOVERY#verify-ownership)")
    target = quiz_dir / f"{bank_id}.yml"
    existing = read_banks(quiz_dir)
    if target.exists() or (quiz_dir / f"{bank_id}.yaml").exists():
        raise UserError(f"{target}: already exists; refusing to overwrite (choose another --bank or remove the file)")
    if bank_id in existing.banks:
        raise UserError(f"bank id {bank_id!r} is already used by {existing.paths[bank_id]}; refusing to overwrite")

    sections, versions, visible = _sop_index(sop_dir)
    bank, problems = gift_to_bank(
        file.read_bytes(),
        str(file),
        bank_id=bank_id,
        title=title or bank_id,
        default_source=default_source,
        kind=kind,
        tier=tier,
        version=sop_version,
        skip_unsupported=skip_unsupported,
        sections=sections,
        versions=versions,
        visible=visible,
    )
    if bank is None:
        raise _fail(problems)
    text = bank_to_yaml(bank)
    quiz_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UserError(f"{target}: already exists; refusing to overwrite") from None
    _echo_warnings(problems)
    if as_json:
        echo_json({"path": str(target), "bank": bank.id, "questions": len(bank.questions), "warnings": [p.to_dict() for p in problems]})
    else:
        click.echo(f"wrote {target}: {len(bank.questions)} question(s)")


@quiz_group.command("export-gift")
@click.argument("bank_id")
@quiz_dir_option
def export_gift_command(bank_id: str, quiz_dir: Path) -> None:
    """Print BANK_ID's questions as GIFT (source citations kept in `// source:` comments)."""
    bank = _load_one(quiz_dir, bank_id)
    try:
        click.echo(bank_to_gift(bank), nl=False)
    except GiftWriteError as error:
        raise UserError(str(error)) from None


def _load_one(quiz_dir: Path, bank_id: str):
    result = read_banks(quiz_dir)
    if bank_id in result.banks:
        return result.banks[bank_id]
    errors = [p for p in result.problems if p.is_error]
    message = f"no valid bank {bank_id!r} in {quiz_dir}"
    if errors:
        message += "\n" + "\n".join(str(p) for p in errors)
    raise UserError(message)


def register(main: click.Group) -> None:
    main.add_command(quiz_group)
