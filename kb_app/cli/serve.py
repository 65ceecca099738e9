"""`kb serve`: run the web application: gunicorn worker processes on POSIX (the production server),
or waitress in one process (`--server waitress`, and on Windows).

Before serving, the search index and both sites must have been built from the SOP files being
served and those files must be the published release; what is off is rebuilt first, and a
checkout that is not the release is refused (`kb_app.releases.prepare_to_serve`).
"""

from __future__ import annotations

import gc
import os
import sys

import click
from sqlalchemy.orm import Session

from kb_app import releases
from kb_app.catalog import load_catalog
from kb_app.cli._common import UserError, settings_from
from kb_app.cli.gunicorn_worker import worker_class
from kb_app.cli.db import open_current_engine
from kb_app.search import SearchIndexError, SearchService
from kb_app.sites import SiteBuildError
from kb_app.web import create_app

DEFAULT_SERVER = "waitress" if sys.platform == "win32" else "gunicorn"


def default_workers() -> int:
    return 2 * (os.cpu_count() or 1)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="KB_HOST")
@click.option("--port", default=8000, show_default=True, type=int, envvar="KB_PORT")
@click.option(
    "--server",
    type=click.Choice(["gunicorn", "waitress"]),
    default=DEFAULT_SERVER,
    show_default=True,
    help="gunicorn: worker processes (POSIX); waitress: one process with threads.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="gunicorn worker processes (KB_WORKERS; default two per core).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Threads per process (default 4 per gunicorn worker, 8 for waitress).",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(1, 600),
    default=30,
    show_default=True,
    help="On SIGTERM, seconds to let in-flight requests finish.",
)
@click.option(
    "--no-rebuild",
    is_flag=True,
    help="Refuse to start when the index or a site was not built from these SOP files, instead of rebuilding.",
)
def serve_command(
    host: str,
    port: int,
    server: str,
    workers: int | None,
    threads: int | None,
    graceful_timeout: int,
    no_rebuild: bool,
) -> None:
    """Serve the site (pages, API, SOP sites)."""
    settings = settings_from()
    workers = workers or settings.workers or default_workers()
    if server == "waitress":
        workers = 1
    engine = open_current_engine(settings.database_url)
    _prepare(settings, engine, rebuild=not no_rebuild)
    engine.dispose()
    if workers > 1 and not settings.redis_url:
        click.echo(
            f"warning: {workers} workers without KB_REDIS_URL: rate limits count per worker and the "
            "agent-state and sign-in caches are off; set KB_REDIS_URL for shared limits and caching",
            err=True,
        )
        settings = settings.replace(cache_seconds=0)
    if settings.trusted_header:
        click.echo(f"trusting the {settings.trusted_header} header for identity (SSO proxy mode)", err=True)
    app = create_app(settings)
    if server == "waitress":
        _serve_waitress(app, host, port, threads or 8, settings)
    else:
        _serve_gunicorn(app, host, port, workers, threads or 4, graceful_timeout, settings)


def _prepare(settings, engine, *, rebuild: bool) -> None:
    catalog = load_catalog(settings.sop_dir)
    with Session(engine) as session:
        try:
            if not rebuild:
                state = releases.served(session, settings.index_dir, settings.site_dir)
                if state.behind:
                    raise UserError(
                        f"not serving: {', '.join(state.behind)} do not match release {state.release_id} "
                        "(run `kb index` and `kb build-site`, or start without --no-rebuild)"
                    )
                return
            rebuilt = releases.prepare_to_serve(
                session,
                catalog,
                index_dir=settings.index_dir,
                site_dir=settings.site_dir,
                site_options=releases.site_options_for(settings),
            )
        except releases.BehindRelease as error:
            raise UserError(f"not serving: {error}") from None
        except (SearchIndexError, SiteBuildError) as error:
            raise UserError(f"not serving: could not build what the SOP files need: {error}") from None
    if rebuilt:
        click.echo(f"rebuilt from {settings.sop_dir} before serving: {', '.join(rebuilt)}", err=True)


def _start_worker(app) -> None:
    """In each worker (after the fork): fresh database connections, the search index opened,
    the release watch running; then freeze start-up objects out of the collector's way."""
    app.extensions["kb_engine"].dispose(close=False)  # connections of the parent are not ours
    search: SearchService = app.extensions["kb_search"]
    try:
        search.current(force=True)
        search.warm()
    except SearchIndexError as error:
        click.echo(f"search is not ready: {error}", err=True)
    app.extensions["kb_release_watcher"].start()
    gc.freeze()


def _serve_waitress(app, host: str, port: int, threads: int, settings) -> None:
    from waitress import serve

    _start_worker(app)
    click.echo(f"serving on http://{host}:{port}/ with waitress, {threads} threads", err=True)
    # Idle or slow sockets cost no thread, but waitress stops accepting at its connection limit
    # (100 by default): a room of idle browsers, or a hostile client, must not silence /healthz.
    serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="kb",
        connection_limit=settings.connection_limit,
        channel_timeout=settings.idle_timeout,
        cleanup_interval=min(10, settings.idle_timeout),
    )


def _serve_gunicorn(app, host: str, port: int, workers: int, threads: int, graceful_timeout: int, settings) -> None:
    from gunicorn.app.base import BaseApplication

    class KbGunicorn(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                # gthread, with idle connections parked in the poller rather than on a thread
                "worker_class": worker_class(settings.idle_timeout),
                "threads": threads,
                "worker_connections": settings.connection_limit,
                "preload_app": True,  # the app is built once, before the fork
                "graceful_timeout": graceful_timeout,
                "timeout": max(60, graceful_timeout + 5),
                "keepalive": 5,
                "max_requests": 0,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
                "proc_name": "kb",
                "post_worker_init": lambda worker: _start_worker(app),
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    click.echo(
        f"serving on http://{host}:{port}/ with gunicorn, {workers} workers x {threads} threads",
        err=True,
    )
    KbGunicorn().run()


def register(main: click.Group) -> None:
    main.add_command(serve_command)
