"""`kb demo activity`: demo acknowledgements so the coverage pages of a fresh demo show data."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from kb_app.config import Settings
from kb_app.db import engine_for, session_scope
from kb_app.demo_activity import simulate_activity


@click.command("activity")
def activity_command() -> None:
    """Backdate the demo's open requirements and record demo acknowledgements (once)."""

    with session_scope(engine_for(Settings.from_env().database_url)) as session:
        created = simulate_activity(session, now=datetime.now(timezone.utc))
    click.echo(
        f"demo activity: {created} acknowledgements" if created else "demo activity: already present, nothing changed"
    )


def register(main: click.Group) -> None:
    demo = main.commands.get("demo")
    if isinstance(demo, click.Group):  # modules register in name order: `demo` is already there
        demo.add_command(activity_command)
