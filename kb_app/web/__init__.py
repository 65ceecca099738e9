"""The web application: pages for each role, the JSON API, and the built SOP sites behind login.

`create_app` is the only entry point; blueprints are thin layers over the core modules.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from kb_app import __version__, db, releases, shared_state
from kb_app.config import Settings
from kb_app.quizzes.library import RECHECK_SECONDS
from kb_app.web import (
    acks,
    admin,
    api,
    auth,
    crisis,
    errors,
    hot_paths,
    improvement,
    inputs,
    main,
    quizzes,
    remediation,
    search,
    security,
    sites,
    translations,
)
from kb_app.web.context import close_session, csrf, init_template_helpers, login_manager


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.from_mapping(_config(settings))
    if test_config:
        app.config.update(test_config)

    engine = db.engine_for(app.config["DATABASE_URL"], **db.pool_options(settings))
    app.extensions["kb_engine"] = engine
    app.extensions["kb_sessionmaker"] = db.session_factory(engine)
    app.teardown_appcontext(close_session)
    state = shared_state.configure(
        settings.database_url, settings.redis_url, cache_seconds=settings.cache_seconds, secret=app.config["SECRET_KEY"]
    )
    app.extensions["kb_shared_state"] = state
    # Started per worker by `kb serve`; tests call its check() themselves.
    app.extensions["kb_release_watcher"] = releases.ReleaseWatcher(settings, engine, state)

    csrf.init_app(app)
    login_manager.init_app(app)
    limiter = Limiter(
        get_remote_address,
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        storage_options=_limiter_storage_options(app.config["RATELIMIT_STORAGE_URI"]),
        headers_enabled=False,  # a Redis round trip per answer; a 429 says Retry-After (errors.py)
        key_prefix=state.ns + ":limits",
        # Redis down: count per process until it is back, rather than refuse or stop limiting.
        in_memory_fallback_enabled=app.config["RATELIMIT_STORAGE_URI"] != "memory://",
    )
    limiter.init_app(app)
    app.extensions["kb_limiter"] = limiter

    for blueprint in (
        auth.bp,
        main.bp,
        api.bp,
        admin.bp,
        sites.bp,
        acks.bp,
        quizzes.bp,
        remediation.bp,
        crisis.bp,
        search.bp,
        translations.bp,
        improvement.bp,
    ):
        app.register_blueprint(blueprint)
    search.init_app(app, settings.index_dir)
    auth.apply_rate_limits(app, limiter)
    api.apply_rate_limits(app, limiter)
    improvement.apply_rate_limits(app, limiter)
    errors.init_app(app)
    inputs.init_app(app)
    security.init_app(app)
    init_template_helpers(app)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        # Later features register blueprints; templates link to them only once they exist.
        return {"kb_version": __version__, "has_endpoint": lambda name: name in app.view_functions}

    # Outermost last: the database guard, then the proxy fix-up, then the hot paths, then Flask.
    hot_paths.install(app, limiter)
    hops = settings.proxy_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]  # Flask documents wrapping wsgi_app
    app.wsgi_app = errors.DatabaseUnavailableGuard(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _limiter_storage_options(uri: str) -> dict[str, Any]:
    if uri.startswith(("redis://", "rediss://", "unix://")):
        return {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
    return {}


def _config(settings: Settings) -> dict[str, Any]:
    secure = settings.secure_cookies
    return {
        "KB_SETTINGS": settings,
        "SECRET_KEY": settings.secret_key or _local_secret(settings.var_dir),
        "DATABASE_URL": settings.database_url,
        "SITE_DIR": settings.site_dir,
        "TRUSTED_HEADER": settings.trusted_header,
        "SESSION_COOKIE_NAME": "kb_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        "WTF_CSRF_TIME_LIMIT": 12 * 3600,
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
        "RATELIMIT_STORAGE_URI": settings.limiter_storage_uri,
        "LOGIN_RATE_LIMIT": settings.login_rate_limit,
        "LOGIN_IDENTIFIER_RATE_LIMIT": settings.login_identifier_rate_limit,
        "API_RATE_LIMIT": settings.api_rate_limit,
        "FEEDBACK_RATE_LIMIT": settings.feedback_rate_limit,
        "REQUEST_LOG": True,
        # How often a worker looks at the quiz bank files again (each bank request asks for them).
        "BANK_RECHECK_SECONDS": RECHECK_SECONDS,
    }


def _local_secret(var_dir: Path) -> str:
    """A secret key kept in var/ so sessions survive restarts when KB_SECRET_KEY is unset."""
    path = var_dir / "secret_key"
    try:
        existing = path.read_text(encoding="ascii").strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its key
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return secret
