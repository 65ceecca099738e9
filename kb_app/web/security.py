"""Response security headers and one JSON log line per request."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, current_app, g, request

APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

request_log = logging.getLogger("kb_app.requests")


def init_app(app: Flask) -> None:
    if not request_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        request_log.propagate = False
    app.before_request(_start_clock)
    app.after_request(_security_headers)
    app.after_request(_log_request)


def finish(response):
    """What every answer gets on its way out (the hot paths call it themselves)."""
    return _log_request(_security_headers(response))


def _start_clock() -> None:
    g.kb_started = time.perf_counter()


SECURITY_HEADERS = (
    ("Content-Security-Policy", APP_CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)


def _security_headers(response):
    """Each header unless the view set its own (one pass over the response's headers, not one per header)."""
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}
    wanted = list(SECURITY_HEADERS)
    if current_app.config.get("SESSION_COOKIE_SECURE") and request.is_secure:
        wanted.append(("Strict-Transport-Security", "max-age=31536000"))
    if not request.path.startswith("/static/"):
        # Pages carry personal data; never keep them in shared or back-button caches.
        wanted.append(("Cache-Control", "no-store"))
    headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
    return response


def _log_request(response):
    if not current_app.config.get("REQUEST_LOG", True):
        return response
    started = g.get("kb_started")
    record = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "user_id": g.get("kb_user_id"),
        "remote": request.remote_addr,
    }
    request_log.info(json.dumps(record, separators=(",", ":")))
    return response
