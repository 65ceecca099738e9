"""`kb serve`: run the web application with waitress."""

from __future__ import annotations

import click

from kb_app.cli._common import settings_from
from kb_app.cli.db import open_current_engine
from kb_app.search import SearchIndexError
from kb_app.web import create_app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="KB_HOST")
@click.option("--port", default=8000, show_default=True, type=int, envvar="KB_PORT")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
def serve_command(host: str, port: int, threads: int) -> None:
    """Serve the site (pages, API, SOP sites) with the waitress WSGI server."""
    from waitress import serve

    settings = settings_from()
    open_current_engine(settings.database_url).dispose()
    app = create_app(settings)
    _warm_search(app)
    if settings.trusted_header:
        click.echo(f"trusting the {settings.trusted_header} header for identity (SSO proxy mode)", err=True)
    click.echo(f"serving on http://{host}:{port}/ with {threads} threads", err=True)
    serve(app, host=host, port=port, threads=threads, ident="kb")


def _warm_search(app) -> None:
    """Open the search index before the first agent waits on it, then freeze start-up objects
    out of the garbage collector's way (fewer collection pauses under load)."""
    import gc

    try:
        app.extensions["kb_search"].warm()
    except SearchIndexError as error:
        click.echo(f"search is not ready: {error}", err=True)
    gc.freeze()


def register(main: click.Group) -> None:
    main.add_command(serve_command)
