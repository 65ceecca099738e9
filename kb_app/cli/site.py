"""`kb build-site` and `kb vendor-assets`: the static SOP sites, one per audience."""

from __future__ import annotations

from pathlib import Path

import click

from kb_app.cli._common import UserError, echo_json, json_option, progress, settings_from, sop_dir_option
from kb_app.sites import AUDIENCES, SiteBuildError, VendorError, build_sites, ensure_mermaid, vendor_mermaid


def vendor_dir_option(func):
    return click.option(
        "--vendor-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="KB_VENDOR_DIR",
        default=None,
        help="Where third-party browser assets are kept (KB_VENDOR_DIR; default var/vendor).",
    )(func)


@click.command("build-site")
@sop_dir_option
@click.option(
    "--site-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="KB_SITE_DIR",
    default=None,
    help="Where the sites go: <site-dir>/T1 and <site-dir>/T2 (KB_SITE_DIR; default var/site).",
)
@click.option(
    "--audience",
    type=click.Choice(["T1", "T2", "all"], case_sensitive=False),
    default="all",
    show_default=True,
    help="Which audience's site to build.",
)
@click.option(
    "--site-url",
    envvar="KB_SITE_URL",
    default=None,
    metavar="URL",
    help="Public URL of each site, `{audience}` replaced by T1/T2 (KB_SITE_URL); used by the 404 page, canonical links and the sitemap.",
)
@click.option(
    "--search-url",
    envvar="KB_SEARCH_URL",
    default=None,
    metavar="URL",
    help="Send the search box's queries to this server search page (?q=...&audience=...) instead of the built-in search (KB_SEARCH_URL).",
)
@vendor_dir_option
@click.option("--offline", is_flag=True, help="Never run npm: use mermaid.js from the vendor dir if it is there.")
@json_option
def build_site_command(
    sop_dir: Path,
    site_dir: Path | None,
    audience: str,
    site_url: str | None,
    search_url: str | None,
    vendor_dir: Path | None,
    offline: bool,
    as_json: bool,
) -> None:
    """Validate the SOPs, then build the static site of each audience with MkDocs (strict).

    Tier 1's site leaves out every t2_only page and Tier 2 block; Tier 2's has everything.
    Drafts are in neither: each audience's preview build (preview-T1, preview-T2) shows them.
    Each site is built next to the live one and swapped in with one rename, so a failed build
    leaves the previous site serving. Exit 1 on any SOP error or broken link or anchor.
    """
    settings = settings_from()
    site_dir = site_dir or settings.site_dir
    vendor_dir = vendor_dir or settings.var_dir / "vendor"
    audiences = AUDIENCES if audience.lower() == "all" else (audience.upper(),)

    mermaid, warning = ensure_mermaid(vendor_dir, fetch=not offline, npm=settings.npm)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    try:
        result = build_sites(
            sop_dir,
            site_dir,
            audiences,
            mermaid_js=mermaid.path if mermaid else None,
            site_url=site_url,
            search_url=search_url,
            progress=progress,
            previews=True,
        )
    except SiteBuildError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        raise UserError(error.headline) from None
    for problem in result.warnings:
        click.echo(str(problem), err=True)
    if as_json:
        echo_json({**result.to_dict(), "mermaid": mermaid.to_dict() if mermaid else None})
        return
    for build in result.builds:
        click.echo(f"{build.key}: {build.pages} pages in {build.seconds:.1f}s -> {build.path}")


@click.command("vendor-assets")
@vendor_dir_option
@click.option("--force", is_flag=True, help="Fetch again even if a copy is already there.")
@json_option
def vendor_assets_command(vendor_dir: Path | None, force: bool, as_json: bool) -> None:
    """Fetch mermaid.js (npm pack mermaid@11) so the offline sites can draw diagrams."""
    settings = settings_from()
    vendor_dir = vendor_dir or settings.var_dir / "vendor"
    if force:
        try:
            asset = vendor_mermaid(vendor_dir, npm=settings.npm)
        except VendorError as error:
            raise UserError(str(error)) from None
    else:
        asset, warning = ensure_mermaid(vendor_dir, npm=settings.npm)
        if asset is None:
            raise UserError(warning or "mermaid.js could not be fetched")
    if as_json:
        echo_json({"mermaid": asset.to_dict()})
    else:
        click.echo(f"mermaid {asset.version}: {asset.path}")


def register(main: click.Group) -> None:
    main.add_command(build_site_command)
    main.add_command(vendor_assets_command)
