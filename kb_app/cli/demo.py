"""`kb demo seed`: a generated demo roster and one login per role."""

from __future__ import annotations

import click

from kb_app import db, demo
from kb_app.cli._common import echo_json, json_option
from kb_app.cli.db import cli_actor, database_option, open_current_engine


@click.group("demo")
def demo_group() -> None:
    """Demo data for trying the platform out."""


@demo_group.command("seed")
@database_option
@json_option
def seed_command(database_url: str | None, as_json: bool) -> None:
    """Load the demo roster (about 300 agents) and demo logins. Safe to run again."""
    engine = open_current_engine(database_url)
    try:
        with db.session_scope(engine) as session:
            result = demo.seed(session, actor=cli_actor())
    finally:
        engine.dispose()
    logins = [
        {
            "role": login.role,
            "email": login.email,
            "password": login.password if login.password_works else None,
            "scope": login.detail,
            "created": login.created,
        }
        for login in result.logins
    ]
    if as_json:
        echo_json({"roster": result.roster, "logins": logins})
        return
    counts = result.roster
    click.echo(f"demo roster: {counts['new']} new, {counts['changed']} changed, {counts['unchanged']} unchanged")
    click.echo("demo logins (demo data only):")
    for login in logins:
        password = login["password"] or "(changed since seeding)"
        scope = f" [{login['scope']}]" if login["scope"] else ""
        click.echo(f"  {login['role']:<16} {login['email']:<28} {password:<18}{scope}")


def register(main: click.Group) -> None:
    main.add_command(demo_group)
