"""The hot paths (banner, reading list, search, what changed, acknowledgement with a bearer token) answer exactly what
Flask answers, with the same headers, log line and limits, and hand to Flask whatever is not the
plain case."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
from flask import Flask
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from kb_app.models import Acknowledgement
from kb_app.search import build_index
from kb_app.services import acknowledging
from kb_app.web import security
from tests.web.test_hot_paths import BANNER, publish_sops

READING_LIST = "/api/v1/reading-list"
ACKS = "/api/v1/acknowledgements"
SEARCH = "/api/v1/search?q=account%20takeover"
CHANGES = "/api/v1/sops/SOP-0/changes"


@pytest.fixture
def flask_dispatches(monkeypatch) -> list[str]:
    """The paths Flask's own dispatch answered (a hot-path answer never reaches it)."""
    seen: list[str] = []
    original = Flask.full_dispatch_request

    def counting(self):
        from flask import request

        seen.append(request.path)
        return original(self)

    monkeypatch.setattr(Flask, "full_dispatch_request", counting)
    return seen


@pytest.fixture
def log_lines() -> list[dict]:
    lines: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(record.getMessage()))

    handler = Collect()
    security.request_log.addHandler(handler)
    yield lines
    security.request_log.removeHandler(handler)


@pytest.fixture
def agent(make_app, settings, engine, sop_dir, make_user, make_token):
    publish_sops(engine, settings, sop_dir, 2)
    build_index(sop_dir.root, settings.index_dir)
    app = make_app(REQUEST_LOG=True)
    user = make_user("agent")
    secret = make_token(user)
    client = app.test_client()
    hot = {"Authorization": f"Bearer {secret}"}
    # The same token as Flask reads it (the scheme is case-insensitive): never a hot path.
    flask = {"Authorization": f"bearer {secret}"}
    content_hash = client.get("/api/v1/sops/SOP-0/changes", headers=hot).get_json()["content_hash"]
    return app, client, hot, flask, content_hash


def _same(one, other) -> None:
    assert one.status_code == other.status_code
    assert one.get_json() == other.get_json()
    for header in ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options", "Cache-Control"):
        assert one.headers.get(header) == other.headers.get(header), header
    assert one.headers["Cache-Control"] == "no-store"


def test_the_hot_paths_answer_what_flask_answers(agent, flask_dispatches, log_lines):
    app, client, hot, flask, content_hash = agent
    for path in (BANNER, READING_LIST, CHANGES):
        log_lines.clear()
        fast = client.get(path, headers=hot)
        assert flask_dispatches == [], flask_dispatches
        _same(fast, client.get(path, headers=flask))
        assert flask_dispatches == [path.split("?")[0]]
        flask_dispatches.clear()
        hot_line, flask_line = log_lines
        for line in log_lines:
            assert line["duration_ms"] >= 0 and line["remote"] == "127.0.0.1"
            line.pop("duration_ms")
        assert hot_line == flask_line and hot_line["path"] == path.split("?")[0] and hot_line["user_id"]
    fast, slow = (client.get(SEARCH, headers=headers) for headers in (hot, flask))
    assert flask_dispatches == ["/api/v1/search"]
    flask_dispatches.clear()
    # Each first page is recorded (its own search token, in its links); the rest is the same.
    one, other = fast.get_json(), slow.get_json()
    assert one["search_token"] != other["search_token"] and one["total"] == other["total"] > 0
    assert [r["sop_id"] for r in one["results"]] == [r["sop_id"] for r in other["results"]]
    assert fast.headers["Cache-Control"] == slow.headers["Cache-Control"] == "no-store"
    body = {"sop_id": "SOP-0", "content_hash": content_hash}
    first = client.post(ACKS, json=body, headers=hot)
    assert first.status_code == 201 and flask_dispatches == []
    again_by_flask = client.post(ACKS, json=body, headers=flask)
    again_hot = client.post(ACKS, json=body, headers=hot)
    assert again_by_flask.status_code == again_hot.status_code == 200
    _same(again_hot, again_by_flask)
    assert again_hot.get_json()["acknowledged_at"] == first.get_json()["acknowledged_at"]


def test_refusals_are_flasks_and_write_nothing(agent, flask_dispatches, session):
    app, client, hot, flask, content_hash = agent
    cases = [
        ("GET", BANNER, {"Authorization": "Bearer kbt_not-a-token"}, None, 401),
        ("GET", "/api/v1/me/banner?path=/sop/%00", hot, None, 400),
        ("GET", "/api/v1/me/banner?path=" + "x" * 2000, hot, None, 400),
        ("GET", "/api/v1/sops/NOT-AN-SOP/changes", hot, None, 404),
        ("GET", "/api/v1/sops/SOP-0/other/changes", hot, None, 404),  # no such route
        ("GET", "/api/v1/sops/" + "X" * 300 + "/changes", hot, None, 400),
        ("GET", CHANGES + "?language=%00", hot, None, 400),
        ("POST", ACKS, hot, {"sop_id": "SOP-0", "content_hash": "0" * 64}, 409),
        ("POST", ACKS, hot, {"sop_id": "NOT-AN-SOP", "content_hash": content_hash}, 404),
        ("POST", ACKS, hot, {"sop_id": "SOP-0"}, 400),
        ("POST", ACKS, hot, b"{not json", 400),
        ("POST", ACKS, hot, b'{"sop_id": "SOP-0", "pad": "' + b"x" * 20_000 + b'"}', 400),
    ]
    for method, path, headers, body, status in cases:
        kwargs = {"json": body} if isinstance(body, dict) else {"data": body, "content_type": "application/json"}
        answer = client.open(path, method=method, headers=headers, **(kwargs if body is not None else {}))
        expected = client.open(
            path,
            method=method,
            headers={**headers, "Authorization": headers["Authorization"].replace("Bearer", "bearer")},
            **(kwargs if body is not None else {}),
        )
        assert answer.status_code == status, (path, body, answer.get_json())
        _same(answer, expected)
        assert answer.get_json()["error"]["code"]
    assert session.scalar(select(func.count()).select_from(Acknowledgement)) == 0


def test_a_request_counts_once_against_the_limit_whichever_path_answers(
    make_app, settings, engine, sop_dir, make_user, make_token
):
    publish_sops(engine, settings, sop_dir, 1)
    client = make_app(API_RATE_LIMIT="4 per minute").test_client()
    secret = make_token(make_user("agent"))
    hot, flask = {"Authorization": f"Bearer {secret}"}, {"Authorization": f"bearer {secret}"}
    statuses = [client.get(BANNER, headers=headers).status_code for headers in (hot, flask, hot, flask, hot)]
    assert statuses == [200, 200, 200, 200, 429]
    limited = client.get(BANNER, headers=hot)
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "rate_limited"
    assert limited.headers["Retry-After"]
    # A request the view refuses (handed over to Flask to answer) is counted once too.
    other = {"Authorization": f"Bearer {make_token(make_user('agent'))}"}
    refused = [client.get("/api/v1/me/banner?path=" + "x" * 2000, headers=other).status_code for _ in range(4)]
    assert refused == [400] * 4 and client.get(BANNER, headers=other).status_code == 429


def test_an_unreachable_database_is_one_503_not_two_tries(agent, monkeypatch):
    app, client, hot, flask, content_hash = agent
    tries = []

    def unreachable(*args, **kwargs):
        tries.append(1)
        error = sa_exc.OperationalError("SELECT", {}, psycopg.OperationalError("server closed the connection"))
        error.connection_invalidated = True
        raise error

    monkeypatch.setattr(acknowledging, "page_banner", unreachable)
    answer = client.get(BANNER, headers=hot)
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "database_unavailable"
    assert answer.headers["Retry-After"] == "5" and answer.headers["X-Content-Type-Options"] == "nosniff"
    assert tries == [1]
