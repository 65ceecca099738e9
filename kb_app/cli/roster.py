"""`kb roster`: import the workforce roster CSV, export it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kb_app.services import rostering
from kb_app import audit, db, roster, roster_sites
from kb_app.cli._common import UserError, echo_json, json_option
from kb_app.cli.db import cli_actor, database_option, open_current_engine
from kb_app.problems import InputError

SHOWN_CHANGES = 50


@click.group("roster")
def roster_group() -> None:
    """The agent roster (employee id, tier, vendor, site, team, language...)."""


@roster_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--deactivate-missing", is_flag=True, help="Deactivate active agents that are not in the file.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@database_option
@json_option
def import_command(
    file: Path, deactivate_missing: bool, dry_run: bool, database_url: str | None, as_json: bool
) -> None:
    """Upsert agents from FILE.csv by employee id, all or nothing.

    Columns: employee_id, name, email, tier, vendor, site, team, language, manager,
    start_date, active (manager and active are optional). Any bad row rejects the whole file
    and every bad row is listed by line number.
    """
    try:
        rows = roster.read_roster_csv(file.read_bytes(), path=file)
    except InputError as exc:
        _refuse(file, exc)
    engine = open_current_engine(database_url)
    try:
        with db.session_factory(engine)() as session:
            try:
                plan = rostering.import_roster(
                    session,
                    rows,
                    deactivate_missing=deactivate_missing,
                    dry_run=dry_run,
                    actor=cli_actor(),
                    source=str(file),
                )
            except InputError as exc:
                session.rollback()
                _refuse(file, exc)
            if dry_run:
                session.rollback()
            else:
                session.commit()
    finally:
        engine.dispose()
    if as_json:
        echo_json({"file": str(file), "dry_run": dry_run, **plan.to_dict()})
        return
    _print_plan(plan, dry_run)


def _refuse(file: Path, exc: InputError):
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    raise UserError(f"{file}: {len(exc.problems)} problem(s); nothing was imported") from None


def _print_plan(plan: roster.ImportPlan, dry_run: bool) -> None:
    counts = plan.counts()
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{verb}: {counts['new']} new, {counts['changed']} changed, {counts['unchanged']} unchanged, "
        f"{counts['deactivated']} deactivated"
    )
    if plan.changed:
        fields = ", ".join(f"{name} ({n})" for name, n in plan.field_counts().items())
        click.echo(f"changed fields: {fields}")
    if dry_run:
        for _, row, changes in plan.changed[:SHOWN_CHANGES]:
            detail = "; ".join(f"{k}: {_show(o)} -> {_show(n)}" for k, (o, n) in changes.items())
            click.echo(f"  ~ {row.employee_id} (line {row.line}): {detail}")
        if len(plan.changed) > SHOWN_CHANGES:
            click.echo(f"  ... and {len(plan.changed) - SHOWN_CHANGES} more changed (use --json for all)")
        for _, employee_id in plan.deactivated[:SHOWN_CHANGES]:
            click.echo(f"  - {employee_id}: would be deactivated")
        if len(plan.deactivated) > SHOWN_CHANGES:
            click.echo(f"  ... and {len(plan.deactivated) - SHOWN_CHANGES} more deactivated")


def _show(value) -> str:
    if value is None:
        return "(empty)"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value).lower()


@roster_group.command("export")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file instead of stdout."
)
@click.option("--vendor", help="Only this vendor's agents.")
@click.option("--active-only", is_flag=True, help="Leave out inactive agents.")
@database_option
def export_command(output: Path | None, vendor: str | None, active_only: bool, database_url: str | None) -> None:
    """Write the roster as CSV in the import format."""
    where = roster.RosterFilter(vendor=vendor.lower() if vendor else None, active=True if active_only else None)
    engine = open_current_engine(database_url)
    try:
        with db.session_scope(engine) as session:
            if output is None:
                count = roster.export_roster(session, sys.stdout, where)
            else:
                with output.open("w", encoding="utf-8", newline="") as handle:
                    count = roster.export_roster(session, handle, where)
            audit.record(
                session,
                "roster.export",
                actor=cli_actor(),
                target=str(output or "stdout"),
                details={"rows": count, "vendor": where.vendor},
            )
    finally:
        engine.dispose()
    if output is not None:
        click.echo(f"wrote {count} agents to {output}", err=True)


def register(main: click.Group) -> None:
    main.add_command(roster_group)


@roster_group.command("sites")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show the sites; write nothing.")
@database_option
@json_option
def sites_command(file: Path, dry_run: bool, database_url: str | None, as_json: bool) -> None:
    """Set site names and time zones from FILE.csv (columns code, name, time_zone), all or nothing.

    Each time zone is an IANA name (Asia/Manila); a bad row is reported as FILE:LINE and nothing
    is written. Sites not in the file keep their settings.
    """
    try:
        sites = roster_sites.read_sites_csv(file.read_bytes(), path=str(file))
    except InputError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise UserError(f"{file}: {len(exc.problems)} problem(s); nothing was imported") from None
    if not dry_run:
        engine = open_current_engine(database_url)
        try:
            with db.session_factory(engine)() as session:
                roster_sites.import_sites(session, sites, actor=cli_actor())
                session.commit()
        finally:
            engine.dispose()
    if as_json:
        echo_json({"file": str(file), "dry_run": dry_run, "sites": [vars(s) for s in sites]})
        return
    verb = "would set" if dry_run else "set"
    for site in sites:
        click.echo(f"{verb} {site.code}: {site.name}, {site.time_zone}")
