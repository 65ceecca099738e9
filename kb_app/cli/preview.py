"""`kb preview`: the site as one audience sees it, rebuilt and re-validated on every save."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from kb_app.catalog import Catalog
from kb_app.cli._common import settings_from, sop_dir_option
from kb_app.problems import Problem
from kb_app.quizzes import catalog_index, validate_banks, visible_by_tier
from kb_app.sites import ensure_mermaid
from kb_app.sites.preview import PreviewBuild, PreviewSession


def bank_check(quiz_dir: Path):
    """The quiz banks' part of `kb validate`, run on every rebuild against the fresh catalog."""

    def check(catalog: Catalog) -> list[Problem]:
        if not quiz_dir.is_dir():
            return []
        sections, versions = catalog_index(catalog)
        return validate_banks(quiz_dir, sections, versions, visible_by_tier(catalog))

    return check


def _print_build(build: PreviewBuild) -> None:
    for problem in build.problems:
        click.echo(str(problem), err=True)
    what = "full build" if build.full else f"{len(build.rebuilt)} file(s) rebuilt"
    changed = f"; changed since the comparison: {', '.join(build.changed_sops)}" if build.changed_sops else ""
    click.echo(
        f"preview: {build.pages} pages, {what} in {build.seconds:.2f} s; "
        f"{len(build.errors)} error(s), {len(build.problems) - len(build.errors)} warning(s){changed}",
        err=True,
    )


@click.command("preview")
@sop_dir_option
@click.option(
    "--quiz-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="KB_QUIZ_DIR",
    default="quizzes",
    show_default=True,
    help="Directory of quiz banks, validated on every save too (KB_QUIZ_DIR).",
)
@click.option(
    "--audience",
    type=click.Choice(["T1", "T2"], case_sensitive=False),
    default="T1",
    show_default=True,
    help="Whose site to preview: Tier 1 never sees t2_only pages or Tier 2 blocks.",
)
@click.option("--language", default=None, metavar="L", help="Only SOPs a reader of language L gets (ISO 639-1).")
@click.option(
    "--against",
    default="HEAD",
    show_default=True,
    metavar="REV",
    help="Git revision holding the published text: pages show their diff against it.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to serve on.")
def preview_command(
    sop_dir: Path, quiz_dir: Path, audience: str, language: str | None, against: str, host: str, port: int
) -> None:
    """Serve the site with live reload while you edit sop/ (MkDocs' own serve machinery).

    Every save re-runs kb validate; its path:line problems are printed here and shown at the
    top of the page they belong to (all of them on the home page). Pages whose text differs
    from REV show the diff. Stop with Ctrl+C.
    """
    settings = settings_from()
    mermaid, _ = ensure_mermaid(settings.var_dir / "vendor", fetch=False)
    with tempfile.TemporaryDirectory(prefix="kb-preview-") as tmp:
        session = PreviewSession(
            sop_dir,
            Path(tmp) / "site",
            tier=audience.upper(),
            language=language,
            watch=[quiz_dir],
            also_check=bank_check(quiz_dir),
            against=against,
            mermaid_js=mermaid.path if mermaid else None,
            report=_print_build,
        )
        session.rebuild()
        server = session.server(host, port)
        click.echo(f"preview: serving {audience.upper()} on http://{host}:{port}/ (Ctrl+C to stop)", err=True)
        try:
            server.serve()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()


def register(main: click.Group) -> None:
    main.add_command(preview_command)
