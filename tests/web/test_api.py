"""The JSON API: bearer tokens, vendor scoping, JSON errors for every failure, OpenAPI."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from kb_app.models import Agent, AuditEvent
from kb_app.web.api import api


@pytest.fixture
def two_vendors(make_agent):
    for n in range(3):
        make_agent(employee_id=f"NW-{n}", vendor="northwind-bpo", site="manila" if n else "cebu")
    for n in range(5):
        make_agent(employee_id=f"AX-{n}", vendor="apex-cx", site="bogota", language="es")


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def as_role(client, make_user, make_token):
    """Headers for a bearer token of a new user with the role."""

    def headers(role: str, **fields) -> dict:
        return bearer(make_token(make_user(role, **fields)))

    return headers


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body


def test_me_with_a_bearer_token(client, make_user, make_token):
    user = make_user("agent", tier="T2", vendor="in-house", site="dublin")
    body = client.get("/api/v1/me", headers=bearer(make_token(user))).get_json()
    assert body["email"] == user.email and body["role"] == "agent" and body["audience"] == "T2"
    assert body["agent"]["site"] == "dublin"


def test_me_with_the_session_cookie(client, auth):
    user = auth.login_as("trainer")
    assert client.get("/api/v1/me").get_json()["email"] == user.email


def test_token_use_is_audited(client, session, as_role):
    client.get("/api/v1/me", headers=as_role("admin"))
    session.expire_all()
    used = session.scalar(select(AuditEvent).where(AuditEvent.action == "token.use"))
    assert used.target == "/api/v1/me"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer kbt_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
)
def test_missing_or_bad_credentials_are_401_json(client, headers):
    response = client.get("/api/v1/me", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_refused(client, runner, make_user, make_token):
    user = make_user("admin")
    secret = make_token(user, "ci")
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    assert runner.invoke(["token", "revoke", "--user", user.email, "--name", "ci"]).exit_code == 0
    assert_error(client.get("/api/v1/me", headers=bearer(secret)), 401, "unauthorized")


def test_a_bad_token_is_refused_even_with_a_valid_session(client, auth):
    auth.login_as("admin")
    assert_error(client.get("/api/v1/me", headers=bearer("kbt_wrong")), 401, "unauthorized")


def test_roster_for_trainers_lists_every_vendor_with_paging(client, as_role, two_vendors):
    headers = as_role("trainer")
    body = client.get("/api/v1/roster?limit=3", headers=headers).get_json()
    assert body["total"] == 8 and len(body["agents"]) == 3 and body["limit"] == 3
    apex = client.get("/api/v1/roster?vendor=apex-cx&limit=100", headers=headers).get_json()
    assert {a["vendor"] for a in apex["agents"]} == {"apex-cx"} and apex["total"] == 5
    assert_error(client.get("/api/v1/roster?limit=0", headers=headers), 400, "bad_request")
    assert_error(client.get("/api/v1/roster?offset=x", headers=headers), 400, "bad_request")


def test_partner_manager_never_sees_another_vendor_through_any_endpoint(client, as_role, two_vendors):
    headers = as_role("partner_manager", vendor="northwind-bpo")
    listing = client.get("/api/v1/roster?limit=1000", headers=headers).get_json()
    assert listing["total"] == 3 and {a["vendor"] for a in listing["agents"]} == {"northwind-bpo"}
    assert client.get("/api/v1/roster?site=bogota", headers=headers).get_json()["total"] == 0
    assert client.get("/api/v1/roster?language=es", headers=headers).get_json()["total"] == 0
    assert client.get("/api/v1/roster?q=AX-", headers=headers).get_json()["total"] == 0
    summary = client.get("/api/v1/roster/summary?by=vendor", headers=headers).get_json()
    assert summary["groups"] == [{"vendor": "northwind-bpo", "agents": 3, "active": 3, "t1": 3, "t2": 0, "inactive": 0}]
    assert summary["totals"]["agents"] == 3
    by_site = client.get("/api/v1/roster/summary?by=site", headers=headers).get_json()
    assert {g["site"] for g in by_site["groups"]} == {"cebu", "manila"}
    for path in (
        "/api/v1/roster?vendor=apex-cx",
        "/api/v1/roster/summary?vendor=apex-cx",
        "/api/v1/roster?vendor=Apex-CX",
    ):
        assert_error(client.get(path, headers=headers), 403, "forbidden")
    other = client.get("/api/v1/roster/AX-1", headers=headers)
    missing = client.get("/api/v1/roster/NOPE-1", headers=headers)
    assert_error(other, 404, "not_found")
    assert other.get_json()["error"]["message"].replace("AX-1", "X") == missing.get_json()["error"]["message"].replace(
        "NOPE-1", "X"
    )
    assert client.get("/api/v1/roster/NW-1", headers=headers).get_json()["employee_id"] == "NW-1"


def test_agents_get_403_from_roster_endpoints(client, as_role, two_vendors):
    headers = as_role("agent")
    for path in ("/api/v1/roster", "/api/v1/roster/summary", "/api/v1/roster/NW-1"):
        assert_error(client.get(path, headers=headers), 403, "forbidden")


def test_summary_validates_its_grouping(client, as_role):
    headers = as_role("admin")
    assert_error(client.get("/api/v1/roster/summary?by=email", headers=headers), 400, "bad_request")
    assert_error(client.get("/api/v1/roster/summary?by=vendor,site,team,tier", headers=headers), 400, "bad_request")
    assert client.get("/api/v1/roster/summary?by=tier,language", headers=headers).status_code == 200


AGENT = {
    "employee_id": "NW-100",
    "name": "Api Agent",
    "email": "api@nw.example",
    "tier": "T1",
    "vendor": "northwind-bpo",
    "site": "manila",
    "team": "NW Manila 1",
    "language": "en",
    "start_date": "2025-01-06",
}


def test_admins_import_the_roster_as_json(client, as_role, session):
    headers = as_role("admin")
    dry = client.post("/api/v1/roster/import", json={"agents": [AGENT], "dry_run": True}, headers=headers)
    assert dry.status_code == 200 and dry.get_json()["counts"]["new"] == 1
    assert session.scalar(select(func.count()).select_from(Agent).where(Agent.employee_id == "NW-100")) == 0
    real = client.post("/api/v1/roster/import", json={"agents": [AGENT]}, headers=headers)
    assert real.get_json()["counts"] == {"new": 1, "changed": 0, "unchanged": 0, "deactivated": 0}
    again = client.post("/api/v1/roster/import", json={"agents": [dict(AGENT, team="NW Manila 2")]}, headers=headers)
    assert again.get_json()["changed_fields"] == {"team": 1}


def test_api_import_rejects_bad_rows_with_every_problem(client, as_role, session):
    headers = as_role("admin")
    body = {"agents": [AGENT, dict(AGENT, employee_id="NW-101", tier="T7"), dict(AGENT), "not an object"]}
    response = client.post("/api/v1/roster/import", json=body, headers=headers)
    problems = assert_error(response, 422, "invalid_roster")["error"]["problems"]
    assert [(p["line"], p["message"][:20]) for p in problems] == [
        (2, "unknown tier 'T7' (e"),
        (3, "duplicate employee_i"),
        (4, "row must be an objec"),
    ]
    assert session.scalar(select(func.count()).select_from(Agent)) == 0


def test_only_admins_import(client, as_role):
    for role in ("trainer", "partner_manager", "agent"):
        response = client.post("/api/v1/roster/import", json={"agents": []}, headers=as_role(role))
        assert_error(response, 403, "forbidden")


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ('{"agents": [', "application/json", 400, "bad_request"),
        ("\xff\xfe", "application/json", 400, "bad_request"),
        ("[1, 2]", "application/json", 400, "bad_request"),
        ('{"agents": "x"}', "application/json", 400, "bad_request"),
        ('{"agents": [], "dry_run": "yes"}', "application/json", 400, "bad_request"),
        ("agents=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_malformed_requests_get_json_errors_never_500(client, as_role, data, content_type, status, code):
    response = client.post("/api/v1/roster/import", data=data, content_type=content_type, headers=as_role("admin"))
    assert_error(response, status, code)


def test_cookie_authenticated_api_writes_need_the_csrf_token(client, auth):
    auth.login_as("admin")
    assert_error(client.post("/api/v1/roster/import", json={"agents": []}), 400, "bad_request")
    ok = client.post("/api/v1/roster/import", json={"agents": []}, headers={"X-CSRFToken": auth.csrf_token()})
    assert ok.status_code == 200


def test_unknown_paths_and_methods_are_json_errors(client, as_role):
    headers = as_role("admin")
    assert_error(client.get("/api/v1/nothing-here", headers=headers), 404, "not_found")
    response = client.delete("/api/v1/me", headers=headers)
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_api_rate_limit_is_a_json_429(make_app, make_user, make_token):
    app = make_app(API_RATE_LIMIT="3 per minute")
    client = app.test_client()
    headers = bearer(make_token(make_user("admin")))
    statuses = [client.get("/api/v1/me", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert_error(client.get("/api/v1/me", headers=headers), 429, "rate_limited")


def test_unexpected_errors_are_a_json_500_without_details(make_app, make_user, make_token):
    app = make_app()

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/api/v1/boom")
    body = assert_error(response, 500, "internal_error")
    assert "secret internals" not in body["error"]["message"]


def test_openapi_document_describes_every_api_route(client, app):
    """The document is generated from the route declarations: every /api/v1 route is in it,
    with every method it serves, and nothing else."""
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1")
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == served
    for name in ("Error", "Agent"):
        assert name in document["components"]["schemas"]
    assert api.document() == document
