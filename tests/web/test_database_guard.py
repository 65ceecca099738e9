"""The WSGI guard: an unreachable database that escapes Flask's handlers still answers 503 JSON."""

from __future__ import annotations

import json

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from kb_app.web.errors import DatabaseUnavailableGuard


def _call(app):
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(DatabaseUnavailableGuard(app)({}, start_response))
    return seen, body


def test_a_dead_connection_raised_past_the_handlers_answers_503_json():
    def app(environ, start_response):
        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.OperationalError as error:
            raise RuntimeError("while rolling back") from sa_exc.OperationalError("ROLLBACK", {}, error)

    seen, body = _call(app)
    assert seen["status"].startswith("503") and seen["headers"]["Retry-After"] == "5"
    assert json.loads(body)["error"]["code"] == "database_unavailable"


def test_a_bug_is_not_hidden_as_a_database_outage():
    def app(environ, start_response):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        _call(app)
