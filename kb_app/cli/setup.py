"""`kb setup`: everything `make run` needs before serving, in order, stopping at the first failure."""

from __future__ import annotations

import click

from kb_app.cli._common import UserError
from kb_app.config import Settings
from kb_app.releases import APP_SEARCH_PAGE

STEPS = [
    ("validating SOPs and quiz banks", ["validate"]),
    ("creating or upgrading the database", ["db", "upgrade"]),
    ("loading the demo roster and demo logins", ["demo", "seed"]),
    (
        "publishing the SOPs (records versions, opens acknowledgement requirements)",
        ["publish", "--by", "setup", "--no-index", "--no-site"],  # both are built just below
    ),
    ("recording demo acknowledgements", ["demo", "activity"]),
    ("building the search index", ["index"]),
    # The search box of the served sites sends queries to the app's search page (KB_SEARCH_URL,
    # default /search), as in the sites every later release builds (releases.site_options_for).
    ("building the T1 and T2 sites", ["build-site", "--search-url", APP_SEARCH_PAGE]),
]


def _run(main: click.Group, args: list[str]) -> None:
    try:
        main.main(args=args, prog_name="kb", standalone_mode=False)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise UserError(
                f"`kb {' '.join(args)}` failed (exit {exit_.code}); fix the problem above and run again"
            ) from None
    except click.ClickException as error:
        error.show()
        raise UserError(f"`kb {' '.join(args)}` failed; fix the problem above and run again") from None


@click.command("setup")
@click.option("--no-demo", is_flag=True, help="Skip the demo roster and demo logins (production).")
@click.pass_context
def setup_command(ctx: click.Context, no_demo: bool) -> None:
    """Validate, migrate, seed the demo, publish, index and build the sites (what `make run` does)."""
    main = ctx.find_root().command
    search_url = Settings.from_env().search_url or APP_SEARCH_PAGE  # KB_SEARCH_URL, as releases use it
    steps = [
        (label, [search_url if arg == APP_SEARCH_PAGE else arg for arg in args])
        for label, args in STEPS
        if not (no_demo and args[0] == "demo")
    ]
    if not no_demo:
        steps.append(("the demo logins", ["demo", "seed"]))  # idempotent; prints the logins last
    for number, (label, args) in enumerate(steps, start=1):
        if main.get_command(ctx, args[0]) is None:
            raise UserError(f"`kb {args[0]}` is not available in this installation")
        click.secho(f"[{number}/{len(steps)}] {label}: kb {' '.join(args)}", bold=True, err=True)
        _run(main, args)
    click.secho("setup complete", fg="green", err=True)


def register(main: click.Group) -> None:
    main.add_command(setup_command)
