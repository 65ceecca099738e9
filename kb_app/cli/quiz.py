"""`kb quiz ...`: check question banks, preview a draw, and move banks to and from Moodle's GIFT."""

from __future__ import annotations

from pathlib import Path

import click

from kb_app.catalog import load_catalog
from kb_app.cli._common import UserError, echo_json, json_option, sop_dir_option
from kb_app.cli.db import open_current_engine
from kb_app.config import Settings
from kb_app.db import session_scope
from kb_app.problems import Problem
from kb_app.acks import gates
from kb_app.quizzes.bank import bank_to_yaml, catalog_index, read_banks, visible_by_tier
from kb_app.quizzes.draw import draw_attempt, taker_view
from kb_app.quizzes.gift import GiftWriteError, bank_to_gift, gift_to_bank
from kb_app.quizzes import remediation
from kb_app.quizzes.library import load_directory
from kb_app.quizzes.reports import (
    ITEM_ANALYSIS_COLUMNS,
    QuizReportError,
    ReportFilter,
    certification_coverage,
    item_analysis,
)
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


def _sop_index(sop_dir: Path):
    """(sections, versions, visible) from the SOP catalog, or Nones when there is no SOP directory."""
    if not sop_dir.is_dir():
        return None, None, None

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
    """Question banks: validate, preview, GIFT import/export; item analysis, certification
    coverage and update-quiz gates from the database."""


@quiz_group.command("validate")
@quiz_dir_option
@sop_dir_option
@json_option
def validate_command(quiz_dir: Path, sop_dir: Path, as_json: bool) -> None:
    """Check every bank in the quiz directory (and its citations, when the SOP directory exists)."""
    sections, versions, visible = _sop_index(sop_dir)
    result = read_banks(quiz_dir, sections=sections, versions=versions, visible=visible)
    if as_json:
        echo_json(
            {
                "ok": result.ok,
                "banks": sorted(result.banks),
                "checked_citations": sections is not None,
                "problems": [p.to_dict() for p in result.problems],
            }
        )
    else:
        _echo_warnings(result.problems)
    if not result.ok:
        if as_json:
            raise SystemExit(1)
        raise _fail([p for p in result.problems if p.is_error])
    if not as_json:
        click.echo(
            f"{len(result.banks)} bank(s) OK"
            + ("" if sections is not None else " (citations not checked: no SOP directory)")
        )


@quiz_group.command("preview")
@click.argument("bank_id")
@click.option(
    "--seed", default="preview", show_default=True, help="Seed of the draw; the same seed gives the same attempt."
)
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
@click.option(
    "--skip-unsupported", is_flag=True, help="Leave out questions with no bank equivalent (warn) instead of failing."
)
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
        echo_json(
            {
                "path": str(target),
                "bank": bank.id,
                "questions": len(bank.questions),
                "warnings": [p.to_dict() for p in problems],
            }
        )
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


# --- reports and gates (need the database) ---------------------------------------------------------


def _engine():

    return open_current_engine(Settings.from_env().database_url)


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _echo_csv(headers: list[str], rows: list[dict]) -> None:
    import csv
    import sys

    writer = csv.DictWriter(sys.stdout, fieldnames=headers, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: " ".join(v) if isinstance(v, list) else v for k, v in row.items() if k in headers})


@quiz_group.command("analysis")
@click.argument("bank_id")
@click.option("--vendor", help="Only this vendor's attempts.")
@click.option("--language", help="Only agents of this language.")
@click.option("--by", type=click.Choice(["vendor", "language"]), help="One analysis per vendor or language.")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per question (and group).")
@quiz_dir_option
@json_option
def analysis_command(bank_id: str, vendor, language, by, as_csv: bool, quiz_dir: Path, as_json: bool) -> None:
    """Item analysis of BANK_ID: facility, discrimination, efficiency, option counts, alpha, flags."""

    bank = _load_one(quiz_dir, bank_id)
    with session_scope(_engine()) as session:
        analyses = item_analysis(session, bank, flt=ReportFilter(vendor=vendor, language=language), by=by)
        followed = remediation.outcomes(session, bank.id, vendor=vendor).to_dict()
    data = [a.to_dict() for a in analyses]
    if as_json:
        echo_json({"bank_id": bank.id, "analyses": data, "remediation": followed})
        return
    if as_csv:
        _echo_csv(
            ([by] if by else []) + ITEM_ANALYSIS_COLUMNS, [{**a["group"], **item} for a in data for item in a["items"]]
        )
        return
    for analysis in data:
        label = ", ".join(f"{k} {v}" for k, v in analysis["group"].items()) or "all agents"
        click.echo(
            f"{bank.id} ({label}): {analysis['attempts']} attempts, mean {analysis['mean_percent']}%, alpha {analysis['alpha']}"
        )
        for item in analysis["items"]:
            flags = (" [" + ", ".join(item["flags"]) + "]") if item["flags"] else ""
            click.echo(
                f"  {item['question_id']:<32} n={item['n']:<5} F={item['facility']} D={item['discrimination']} E={item['efficiency']}{flags}  {item['source']}"
            )
            for pair in item["pairs"]:
                wrong = f", most often confused with {pair['common_wrong']!r}" if pair["common_wrong"] else ""
                click.echo(f"      {pair['prompt'][:40]!r} -> {pair['answer'][:30]!r}: F={pair['facility']}{wrong}")
    if followed["assigned"]:
        rate = "-" if followed["pass_rate"] is None else f"{followed['pass_rate']:.0%}"
        click.echo(
            f"remediation: {followed['assigned']} assigned, {followed['open']} open, {followed['retried']} retried, "
            f"{followed['passed_on_retry']} passed on retry ({rate})"
        )


@quiz_group.command("remediation")
@click.option("--vendor", help="Only this vendor's agents.")
@click.option("--bank", "bank_id", help="Only this bank.")
@json_option
def remediation_command(vendor: str | None, bank_id: str | None, as_json: bool) -> None:
    """Who is in remediation: agents re-reading the sections their last failed quiz missed."""
    with session_scope(_engine()) as session:
        rows = [r.to_dict() for r in remediation.open_tasks(session, vendor=vendor, bank_id=bank_id)]
    if as_json:
        echo_json({"in_remediation": rows})
        return
    if not rows:
        click.echo("nobody is in remediation")
    for row in rows:
        click.echo(
            f"{row['employee_id']:<10} {row['name'][:28]:<28} {row['vendor']:<14} {row['bank_id']:<32} "
            f"since {row['since'][:16]}  {row['sections_read']}/{row['sections']} read"
        )


@quiz_group.command("coverage")
@click.argument("bank_id")
@click.option(
    "--by", default="vendor,site", show_default=True, help="Comma-separated: vendor, site, team, team_leader, language."
)
@click.option("--vendor", help="Only this vendor's agents.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@quiz_dir_option
@json_option
def coverage_command(bank_id: str, by: str, vendor, as_csv: bool, quiz_dir: Path, as_json: bool) -> None:
    """Certification coverage of BANK_ID: certified, expiring, recertification due, expired, never."""

    bank = _load_one(quiz_dir, bank_id)
    if bank.kind != "certification":
        raise UserError(f"{bank_id} is an update bank; coverage is for certification banks")
    groups = [g.strip() for g in by.split(",") if g.strip()]
    try:
        with session_scope(_engine()) as session:
            rows = [
                r.to_dict()
                for r in certification_coverage(
                    session,
                    bank,
                    by=groups,
                    now=_now(),
                    due_days=Settings.from_env().ack_due_days,
                    flt=ReportFilter(vendor=vendor),
                )
            ]
    except QuizReportError as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        echo_json({"bank_id": bank.id, "by": groups, "rows": rows})
    elif as_csv or rows:
        _echo_csv(list(rows[0]) if rows else groups, rows)


@quiz_group.command("gates")
@click.option("--record", is_flag=True, help="Record the update banks that gate published versions not decided yet.")
@quiz_dir_option
@json_option
def gates_command(record: bool, quiz_dir: Path, as_json: bool) -> None:
    """Which update quiz gates the acknowledgement of which published SOP version.

    Decisions are recorded once (so later edits of the bank files do not change who counts): a
    version with a matching update bank when first seen, a version without one when its first
    acknowledgement is counted. `--record` records the matching banks now, e.g. after `kb publish`.
    """

    with session_scope(_engine()) as session:
        recorded = (
            gates.record_gate_decisions(session, load_directory(quiz_dir), now=_now(), final=False) if record else 0
        )
        decisions = [
            {
                "sop_id": d.sop_id,
                "version": d.version,
                "decided_at": d.decided_at.isoformat(),
                "gates": [{"bank_id": g.bank_id, "tier": g.tier, "bank_hash": g.bank_hash} for g in d.gates],
            }
            for d in gates.gate_decisions(session)
        ]
        undecided = gates.undecided_versions_exist(session)
    if as_json:
        echo_json({"recorded": recorded, "undecided_versions": undecided, "decisions": decisions})
        return
    if record:
        click.echo(f"recorded {recorded} decision(s)", err=True)
    for decision in decisions:
        listed = ", ".join(f"{g['bank_id']} ({g['tier']})" for g in decision["gates"]) or "no quiz"
        click.echo(f"{decision['sop_id']} v{decision['version']}: {listed}")
    if undecided:
        click.echo("some published versions are not decided yet (they will be when first needed)", err=True)


def register(main: click.Group) -> None:
    main.add_command(quiz_group)
