"""Malformed, oversized and out-of-range input is a 400/422 JSON (or page) error on every route,
never a 500: on SQLite and on PostgreSQL (which refuses NUL bytes in text)."""

from __future__ import annotations

import pytest

HUGE = "9" * 30  # beyond 64 bits
NOT_READY_ROUTES = ("/search", "/api/v1/search", "/readyz")
HOSTILE_QUERY = {
    "page": HUGE,
    "requirement": HUGE,
    "limit": HUGE,
    "offset": HUGE,
    "since": "9999-12-31",
    "until": "9999-12-31",
    "q": "a\x00b",
    "vendor": "\x00",
    "week": "9999-12-31",
}


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("name", sorted(HOSTILE_QUERY))
def test_every_get_route_refuses_a_hostile_query_value_without_a_500(app, client, auth, name):
    auth.login_as("admin")
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint == "static":
            continue
        response = client.get(rule.rule, query_string={name: HOSTILE_QUERY[name]})
        # A 503 that says "not ready" is the answer of these routes while the index is not built.
        not_ready = response.status_code == 503 and rule.rule in NOT_READY_ROUTES
        assert response.status_code < 500 or not_ready, (rule.rule, name, response.status_code)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"requirement": HUGE}, 400),
        ({"page": HUGE}, 400),
        ({"since": "9999-12-31"}, 400),
        ({"until": "0001-01-01"}, 400),
    ],
)
def test_pages_name_the_bad_number_or_date(client, auth, params, status):
    auth.login_as("admin")
    path = "/admin/audit" if {"since", "until"} & set(params) else "/coverage" if "requirement" in params else "/roster"
    assert client.get(path, query_string=params).status_code == status


def test_the_sign_in_form_refuses_a_nul_byte(client, auth):
    response = client.post("/login", data={"identifier": "a\x00@example.com", "password": "x", "csrf_token": "x"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        '{"sop_id": ' + "[" * 1000 + "]" * 1000 + ', "content_hash": "x"}',
        '{"sop_id": "\\ud800", "content_hash": "x"}',
        '{"sop_id": "ATO\\u0000", "content_hash": "x"}',
        '{"sop_id": "ATO", "content_hash": "x", "version": ' + HUGE + "}",
        '{"sop_id": "' + "A" * 100_000 + '", "content_hash": "x"}',
    ],
)
def test_hostile_json_bodies_are_refused_as_json(client, make_user, make_token, raw):
    headers = {**bearer(make_token(make_user("agent"))), "Content-Type": "application/json"}
    response = client.post("/api/v1/acknowledgements", data=raw, headers=headers)
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
    assert response.get_json()["error"]["code"]


def test_api_numbers_beyond_their_range_are_400(client, make_user, make_token):
    headers = bearer(make_token(make_user("trainer")))
    for path, params in (
        ("/api/v1/coverage", {"requirement": HUGE}),
        ("/api/v1/roster", {"offset": HUGE}),
        ("/api/v1/search", {"limit": HUGE}),
    ):
        assert client.get(path, query_string=params, headers=headers).status_code == 400, path
