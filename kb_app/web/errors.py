"""Errors in one place: JSON under /api/v1, HTML pages elsewhere."""

from __future__ import annotations

import json
import logging
import sys
import time

from typing import Any

from sqlalchemy import exc as sa_exc
from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

API_PREFIX = "/api/v1"

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

TITLES = {
    400: "That request did not make sense",
    401: "Please sign in",
    403: "Not for your role",
    404: "Page not found",
    405: "Not allowed here",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "Not available yet",
}


class ApiError(HTTPException):
    """An API error with a stable machine-readable code and optional extra fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(description=message)
        self.code = status
        self.error_code = code
        self.extra = extra


def _wants_json() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _message(exc: HTTPException) -> str:
    if isinstance(exc, CSRFError):
        return "The form was missing its security token or it expired. Go back, reload the page and try again."
    if exc.code == 400 and "JSON" in (exc.description or ""):
        return "The request body is not valid JSON."
    if exc.code == 429:
        return "Too many requests. Wait a minute and try again."
    if exc.code == 500:
        return "The error was logged. Try again in a moment."
    return exc.description or ""


def handle_http_error(exc: HTTPException):
    status = exc.code or 500
    if _wants_json():
        body = {
            "error": {
                "code": getattr(exc, "error_code", None) or CODES.get(status, "error"),
                "message": _message(exc),
                **getattr(exc, "extra", {}),
            }
        }
        response = jsonify(body)
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="kb"'
    else:
        title = TITLES.get(status, exc.name)
        try:
            page = render_template("errors/error.html", status=status, title=title, message=_message(exc))
        except Exception:  # noqa: BLE001 - e.g. the database is down and the layout needs the user
            current_app.logger.exception("could not render the error page")
            page = f"<!doctype html><title>{status}</title><h1>{status} {escape(title)}</h1>"
        response = current_app.make_response((page, status))
    for name, value in exc.get_headers() if status in (405, 429) else []:
        if name.lower() in ("allow", "retry-after"):
            response.headers[name] = value
    if status == 429 and "Retry-After" not in response.headers:
        retry = _retry_after()
        if retry is not None:
            response.headers["Retry-After"] = str(retry)
    return response


def _retry_after() -> int | None:
    """Seconds until the breached limit's window resets. The limiter sends no rate-limit headers
    on answers that pass (each would cost another round trip to Redis), so a refusal says it."""
    limiter = current_app.extensions.get("kb_limiter")
    try:
        current = limiter.current_limit if limiter is not None else None
        return max(1, int(current.reset_at - time.time())) if current is not None else None
    except Exception:  # noqa: BLE001 - Redis gone between the refusal and this: no header
        return None


def database_unavailable(exc: BaseException | None) -> bool:
    """The database cannot be reached (restarting, pool exhausted), as opposed to a bug: the
    error itself or the one it was raised from (a restart can surface as a closed connection, or
    as an error raised while cleaning up after one)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and type(exc.orig).__module__.startswith(
            "psycopg"
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def handle_unexpected(exc: Exception):
    if database_unavailable(exc):
        # Nothing was committed (the transaction is rolled back with the session); the pool
        # replaces dead connections (pre-ping), so the next request may well succeed.
        current_app.logger.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        error = ApiError(503, "database_unavailable", "The database is not reachable right now; try again shortly.")
        response = handle_http_error(error)
        response.headers["Retry-After"] = "5"
        return response
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())


class DatabaseUnavailableGuard:
    """The last line: an unreachable database that escapes Flask's own handling (raised while the
    error response is built, or while the request's session is torn down) still answers 503 JSON,
    not the server's bare 500 page."""

    BODY = json.dumps(
        {
            "error": {
                "code": "database_unavailable",
                "message": "The database is not reachable right now; try again shortly.",
            }
        }
    ).encode()

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        try:
            return self.wsgi_app(environ, start_response)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            logging.getLogger("kb_app.web").warning("database unavailable outside the request handlers: %s", exc)
            headers = [
                ("Content-Type", "application/json"),
                ("Retry-After", "5"),
                ("Content-Length", str(len(self.BODY))),
            ]
            start_response("503 SERVICE UNAVAILABLE", headers, sys.exc_info())
            return [self.BODY]


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
