"""`kb index` and `kb search`: build the per-tier search index, and search it from a terminal."""

from __future__ import annotations

import html
import re
from pathlib import Path

import click

from kb_app.cli._common import UserError, echo_json, json_option, progress, settings_from, sop_dir_option
from kb_app.search import BuildError, IndexNotFound, SearchService, build_index, rollback

_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def index_dir_option(func):
    return click.option(
        "--index-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="KB_INDEX_DIR",
        default=None,
        help="Directory of the search index (KB_INDEX_DIR; default var/index).",
    )(func)


def _index_dir(index_dir: Path | None) -> Path:
    return index_dir if index_dir is not None else settings_from().index_dir


@click.command("index")
@sop_dir_option
@index_dir_option
@click.option("--rollback", "roll_back", is_flag=True, help="Serve the previous build again instead of building.")
@json_option
def index_command(sop_dir: Path, index_dir: Path | None, roll_back: bool, as_json: bool) -> None:
    """Build the search index (one per audience tier) and switch to it atomically.

    Searches keep working during the build; if it fails, the previous build keeps serving.
    Exit 1 when an SOP file has errors (fix them with `kb validate`).
    """
    index_dir = _index_dir(index_dir)
    if roll_back:
        try:
            build_id = rollback(index_dir)
        except IndexNotFound as error:
            raise UserError(str(error)) from None
        if as_json:
            echo_json({"build_id": build_id, "rolled_back": True})
        else:
            click.echo(f"Search index rolled back to build {build_id}.")
        return
    try:
        report = build_index(sop_dir, index_dir, progress=progress)
    except BuildError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        raise UserError(f"{error} (the previous index, if any, is still serving)") from None
    if as_json:
        echo_json(report.to_dict())
        return
    for tier, stats in report.tiers.items():
        click.echo(f"{tier}: {stats.sops} SOPs, {stats.sections} sections")
    click.echo(f"Search index {report.build_id} is live in {index_dir} ({report.seconds:.1f}s).")


def _unescape_outside_marks(snippet: str) -> str:
    parts, cursor = [], 0
    for match in _MARK.finditer(snippet):
        parts.append(html.unescape(snippet[cursor : match.start()]))
        parts.append(click.style(html.unescape(match.group(1)), bold=True, fg="yellow"))
        cursor = match.end()
    parts.append(html.unescape(snippet[cursor:]))
    return "".join(parts)


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option(
    "--tier",
    type=click.Choice(["T1", "T2"], case_sensitive=False),
    default="T1",
    show_default=True,
    help="Search as a reader of this tier.",
)
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True, help="Number of results.")
@index_dir_option
@json_option
def search_command(query: tuple[str, ...], tier: str, limit: int, index_dir: Path | None, as_json: bool) -> None:
    """Search the SOPs as an agent of a tier would.

    QUERY is words, "phrases", word* prefixes and filters tag:, kind:, tier:, id:, status:.
    With --json, prints a list of results (sop_id, title, section, anchor, url, snippet, score).
    """
    index_dir = _index_dir(index_dir)
    text = " ".join(query)
    service = SearchService(index_dir)
    try:
        results = service.search(text, tier=tier.upper(), limit=limit)
    except IndexNotFound as error:
        raise UserError(f"{error}") from None
    finally:
        service.close()
    if as_json:
        echo_json([hit.to_dict() for hit in results.hits])
        return
    for bulletin in results.pinned:
        until = f" (until {bulletin.expires:%Y-%m-%d %H:%M} UTC)" if bulletin.expires else ""
        click.echo(
            click.style("PINNED", bold=True, fg="red") + f"  {bulletin.sop_id}  {bulletin.title}{until}  {bulletin.url}"
        )
    if results.pinned:
        click.echo()
    for number, hit in enumerate(results.hits, start=1):
        flag = click.style(" [retired]", fg="red") if hit.retired else ""
        click.echo(f"{number:>2}. {click.style(hit.sop_id, bold=True)}  {hit.title}  ({hit.kind} v{hit.version}){flag}")
        click.echo(f"    \u00a7 {hit.section}  {hit.url}")
        if hit.snippet:
            click.echo(f"    {_unescape_outside_marks(hit.snippet)}")
    if not results.hits:
        click.echo(f"No results for {results.query!r} ({tier.upper()}).")
    else:
        click.echo(f"\n{results.total} sections in {results.total_sops} SOPs match; showing {len(results.hits)}.")
    for suggestion in results.suggestions:
        click.echo(f"Did you mean: {suggestion}")


def register(main: click.Group) -> None:
    main.add_command(index_command)
    main.add_command(search_command)
