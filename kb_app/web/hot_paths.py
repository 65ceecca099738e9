"""The requests every agent makes, many times, in a crisis wave (the banner of each SOP page view,
the reading list, a search, what changed in an SOP, the acknowledgement), answered with less of
Flask's per-request machinery.

A bearer request to one of them runs, in its own request context, exactly what Flask would run for
it: the input check, `api.authenticate`, the API rate limit (the same counters in the same
storage, through Flask-Limiter's own strategy, or for the banner and the reading list its
fixed-window script sent in the round trip that fetches the agent's kept standing), the view
itself with its contract, the security headers and the request log line. What it skips is the generic work around them: Flask-Limiter's
per-request resolution of which limits apply, the other before- and after-request hooks (CSRF,
remember-me cookie, rate-limit headers, none of which a bearer request uses), and Flask's
dispatch and error machinery.

Anything that is not the plain case is handed to Flask untouched, which then answers it as it
always does: no bearer token or an unknown one, a refused input, a rate limit reached, rate-limit
storage down, a view that refuses (403, 404, 409, a malformed body), an unexpected error. A
request is counted against its limit once whichever way it goes (one already over the limit may
be counted twice, which changes nothing: it is refused, and the window ends when it would). An
acknowledgement that commits and then fails to answer is answered by Flask as already recorded
(200, the first record). The database being unreachable is answered at once with the same 503
as Flask's handler, not tried twice.
"""

from __future__ import annotations

import functools
import io
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, g, request
from flask.ctx import RequestContext
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from kb_app import shared_state
from kb_app.web import api, errors, inputs, security
from kb_app.web.context import get_session

ROUTES = {
    ("GET", "/api/v1/me/banner"): "api.api_banner",
    ("GET", "/api/v1/reading-list"): "api.api_reading_list",
    ("GET", "/api/v1/search"): "api.search_api",
    ("POST", "/api/v1/acknowledgements"): "api.api_acknowledge",
}
# Routes with a path parameter: (method, path prefix, path suffix) -> endpoint; Flask's own URL
# map then says whether the path is that route (and gives its arguments).
PATTERNS = {("GET", "/api/v1/sops/", "/changes"): "api.api_changes"}
# Their views read the agent's kept standing: fetched with the rate-limit counts, one round trip.
STANDING_ENDPOINTS = {"api.api_banner", "api.api_reading_list"}
MAX_BODY_BYTES = 16 * 1024  # an acknowledgement is a few hundred bytes; anything bigger goes to Flask
COUNTED = "kb.hot_path.counted"  # environ key: this request was counted against its limits already

log = logging.getLogger("kb_app.web")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def install(app: Flask, limiter: Limiter) -> None:
    """Put the hot paths in front of Flask (inside any proxy fix-up, so addresses and schemes are
    the client's) and tell the limiter not to count again what they counted."""
    app.wsgi_app = HotPaths(app, limiter, app.wsgi_app)  # type: ignore[method-assign]  # Flask documents wrapping wsgi_app

    @limiter.request_filter
    def _counted_by_the_hot_path() -> bool:
        return bool(request.environ.get(COUNTED))


class HotPaths:
    def __init__(self, app: Flask, limiter: Limiter, wsgi_app: WsgiApp) -> None:
        self.app = app
        self.limiter = limiter
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        endpoint = _endpoint(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        if endpoint is None or not environ.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
            return self.wsgi_app(environ, start_response)
        body = None
        if environ["REQUEST_METHOD"] == "POST":
            body = _json_body(environ)
            if body is None:
                return self.wsgi_app(environ, start_response)
        response = self._answer(environ, endpoint)
        if response is None:
            if body is not None:
                environ["wsgi.input"] = io.BytesIO(body)  # for Flask to read from the start
            return self.wsgi_app(environ, start_response)
        return response(environ, start_response)

    def _answer(self, environ: dict[str, Any], endpoint: str) -> Any | None:
        """The response, or None for Flask to answer the request instead."""
        app = self.app
        # No cookie, so no session to open (Flask would open an empty one, and the hot path never
        # saves one): a write to this one fails, and Flask answers that request instead.
        session = None if "HTTP_COOKIE" in environ else app.session_interface.make_null_session(app)
        with RequestContext(app, environ, session=session):
            g.kb_started = time.perf_counter()
            try:
                rule = request.url_rule
                if rule is None or rule.endpoint != endpoint or request.routing_exception is not None:
                    return None  # not the route it looked like (or no route): Flask answers
                inputs.refuse_control_characters()
                api.authenticate()
                if not self._count(environ, endpoint):
                    return None
                response = app.view_functions[endpoint](**(request.view_args or {}))
            except Exception as exc:  # noqa: BLE001 - Flask answers whatever is not the plain case
                if not errors.database_unavailable(exc):
                    log.debug("hot path handed %s to Flask: %r", endpoint, exc)
                    return None
                response = errors.handle_unexpected(exc)  # the same 503 as Flask's, without waiting twice
            finally:
                fetched = g.pop("kb_fetched_state", None)
                if fetched is not None:
                    fetched.forget_fetched()  # a standing the view did not take stays with no later request
            return security.finish(response)

    def _count(self, environ: dict[str, Any], endpoint: str) -> bool:
        """Counts the request against the API limits of its user as Flask-Limiter would (same keys);
        False when a limit is reached, the storage is down (Flask-Limiter then falls back and
        watches for it to come back) or limits are off in a way only Flask-Limiter knows."""
        limiter = self.limiter
        if not limiter.enabled:
            environ[COUNTED] = True
            return True
        if limiter._storage_dead:  # noqa: SLF001 - Flask-Limiter's own recovery runs on its path
            return False
        strategy = limiter.limiter
        identifiers = (limiter._key_prefix, api.rate_key(), endpoint)  # noqa: SLF001 - the same keys as Flask-Limiter's
        items = _limits(self.app.config["API_RATE_LIMIT"])
        counted = self._count_with_standing(strategy, items, identifiers) if endpoint in STANDING_ENDPOINTS else None
        if counted is None:
            counted = all(strategy.hit(item, *identifiers) for item in items)
        if counted:
            environ[COUNTED] = True
        return counted

    def _count_with_standing(
        self, strategy: Any, items: tuple[RateLimitItem, ...], identifiers: tuple[str, ...]
    ) -> bool | None:
        """The fixed-window counts of `strategy.hit`, in the round trip that fetches the agent's
        kept standing for the view (`SharedState.fetch_agent_state`); None when that does not
        apply (another strategy or storage, limits counted elsewhere than the shared state, not
        an agent, Redis failing, a script Redis no longer holds): then counted as usual."""
        storage = strategy.storage
        agent_id = getattr(g.get("api_user"), "agent_id", None)
        if (
            agent_id is None
            or type(strategy) is not FixedWindowRateLimiter
            or type(storage) is not RedisStorage
            or self.app.config["RATELIMIT_STORAGE_URI"] != self.app.config["KB_SETTINGS"].redis_url
        ):
            return None
        script = storage.lua_incr_expire  # what `storage.incr` runs, by its digest

        def queue(pipe: Any) -> None:
            for item in items:
                pipe.evalsha(script.sha, 1, storage.prefixed_key(item.key_for(*identifiers)), item.get_expiry(), 1)

        state = shared_state.for_session(get_session())
        g.kb_fetched_state = state
        counts = state.fetch_agent_state(agent_id, queue)
        if counts is None or any(isinstance(count, Exception) for count in counts):
            return None
        return all(int(count) <= item.amount for count, item in zip(counts, items, strict=True))


def _endpoint(method: str, path: str) -> str | None:
    found = ROUTES.get((method, path))
    if found is not None:
        return found
    for (want, prefix, suffix), endpoint in PATTERNS.items():
        if method == want and path.startswith(prefix) and path.endswith(suffix):
            return endpoint
    return None


@functools.lru_cache(maxsize=16)
def _limits(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(sorted(parse_many(text)))


def _json_body(environ: dict[str, Any]) -> bytes | None:
    """The JSON body of a small POST, read whole; None when Flask should read it itself."""
    if environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() != "application/json":
        return None
    length = environ.get("CONTENT_LENGTH", "")
    if not length.isdigit() or not 0 < int(length) <= MAX_BODY_BYTES:
        return None
    body = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)  # whatever came, for whoever reads it next
    return body if len(body) == int(length) else None
