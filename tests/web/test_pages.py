"""Home page per role, roster pages scoped to what each role may see, errors and headers."""

from __future__ import annotations

import json
import logging

import pytest

from kb_app.web import security


@pytest.fixture
def two_vendors(make_agent):
    """northwind-bpo: 3 agents at manila (one inactive) + 1 at cebu; apex-cx: 2 at bogota."""
    make_agent(employee_id="NW-1", name="Maria Santos", site="manila", team="NW Manila 1")
    make_agent(employee_id="NW-2", name="Jose Reyes", site="manila", team="NW Manila 2")
    make_agent(employee_id="NW-3", name="Gone Agent", site="manila", team="NW Manila 2", active=False)
    make_agent(employee_id="NW-4", name="Carlo Cruz", site="cebu", team="NW Cebu 1")
    make_agent(
        employee_id="AX-1", name="Valentina Gomez", vendor="apex-cx", site="bogota", team="AX Bogota 1", language="es"
    )
    make_agent(
        employee_id="AX-2", name="Santiago Diaz", vendor="apex-cx", site="bogota", team="AX Bogota 1", language="es"
    )


def text(response) -> str:
    return response.get_data(as_text=True)


def test_agent_home_shows_their_profile_and_the_sop_link(client, auth):
    auth.login_as("agent", name="Maria Santos", employee_id=None, site="cebu", team="NW Cebu 1", language="tl")
    page = text(client.get("/"))
    assert "Hello, Maria Santos" in page
    for fact in ("NW Cebu 1", "Cebu", "tl", "northwind-bpo", 'href="/sop/"'):
        assert fact in page
    assert "/roster" not in page and "Audit log" not in page


def test_partner_manager_home_counts_only_their_vendor(client, auth, two_vendors):
    auth.login_as("partner_manager", vendor="northwind-bpo")
    page = text(client.get("/"))
    assert "northwind-bpo" in page and "NW Manila 2" in page and "Cebu" in page
    assert "apex-cx" not in page and "Bogota" not in page and "AX Bogota" not in page
    assert '<div class="stat">3</div><div class="stat-label">Active agents</div>' in page
    assert '<div class="stat">1</div><div class="stat-label">Inactive</div>' in page


def test_trainer_home_summarises_every_vendor_and_site(client, auth, two_vendors):
    auth.login_as("trainer")
    page = text(client.get("/"))
    assert "apex-cx" in page and "northwind-bpo" in page and "Bogota" in page
    assert '<div class="stat">5</div><div class="stat-label">Active agents</div>' in page
    assert "Audit log" not in page


def test_admin_home_links_to_the_audit_log_and_users(client, auth):
    auth.login_as("admin")
    page = text(client.get("/"))
    assert "/admin/audit" in page and "/admin/users" in page


def test_roster_page_is_scoped_for_partner_managers(client, auth, two_vendors):
    auth.login_as("partner_manager", vendor="northwind-bpo")
    page = text(client.get("/roster"))
    assert "Maria Santos" in page and "Valentina" not in page
    assert "4 agents" in page
    assert client.get("/roster?vendor=apex-cx").status_code == 403
    assert client.get("/roster?vendor=APEX-CX").status_code == 403
    assert client.get("/roster?vendor=northwind-bpo").status_code == 200
    assert "Valentina" not in text(client.get("/roster?q=valentina"))
    assert "0 agents" in text(client.get("/roster?site=bogota"))
    assert client.get("/roster.csv?vendor=apex-cx").status_code == 403
    csv_text = text(client.get("/roster.csv"))
    assert "NW-1" in csv_text and "AX-1" not in csv_text


def test_roster_page_filters_for_trainers(client, auth, two_vendors):
    auth.login_as("trainer")
    page = text(client.get("/roster?vendor=apex-cx&site=bogota"))
    assert "Valentina Gomez" in page and "Maria Santos" not in page
    assert "2 agents" in page
    assert "Gone Agent" in text(client.get("/roster?active=false"))
    assert "Gone Agent" not in text(client.get("/roster?active=true"))
    download = client.get("/roster.csv?vendor=apex-cx")
    assert download.headers["Content-Disposition"].startswith('attachment; filename="roster-apex-cx-')
    assert download.mimetype == "text/csv"


def test_agents_cannot_see_the_roster_or_admin_pages(client, auth):
    auth.login_as("agent")
    for path in ("/roster", "/roster.csv", "/admin/audit", "/admin/audit.csv", "/admin/users"):
        assert client.get(path).status_code == 403, path


def test_only_admins_see_admin_pages(client, auth):
    auth.login_as("trainer")
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/users").status_code == 403


def test_names_with_html_are_shown_escaped(client, auth, make_agent):
    make_agent(employee_id="X-1", name="<script>alert(1)</script>", team="<b>Team</b>")
    auth.login_as("trainer")
    page = text(client.get("/roster"))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Team&lt;/b&gt;" in page


def test_admin_audit_log_lists_filters_and_exports(client, auth, make_user):
    target = make_user("trainer")
    auth.login("nobody@example.com", "x-wrong-password")
    auth.login_as("admin")
    page = text(client.get("/admin/audit?action=login."))
    assert '<span class="tag tag--fail">login.failure</span>' in page and "nobody@example.com" in page
    assert '<span class="tag">user.create</span>' not in page
    assert target.email in text(client.get("/admin/audit?action=user.create"))
    assert client.get("/admin/audit?since=yesterday").status_code == 400
    export = client.get("/admin/audit.csv?action=login.failure")
    assert export.mimetype == "text/csv"
    assert export.get_data(as_text=True).splitlines()[1].split(",")[2] == "login.failure"
    assert "audit.export" in text(client.get("/admin/audit"))


def test_admin_users_page_lists_users_and_tokens_without_secrets(client, auth, make_token):
    admin = auth.login_as("admin")
    secret = make_token(admin, "nightly")
    page = text(client.get("/admin/users"))
    assert admin.email in page and "nightly" in page and secret not in page


def test_html_errors_outside_the_api(client, auth):
    auth.login_as("trainer")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "Page not found" in text(missing)
    assert missing.mimetype == "text/html"
    assert client.put("/").status_code == 405


def test_unexpected_errors_become_a_500_page_without_details(make_app, auth, client):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in text(response) and "Something went wrong" in text(response)


def test_security_headers_are_on_every_response(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "style=" not in text(response) and "<script>" not in text(response)


def test_healthz_checks_the_database(client, app, engine):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.fresh_db
def test_readyz_reports_an_outdated_schema(client, engine):
    from kb_app import db

    db.downgrade(engine, "base")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "kb db upgrade" in response.get_json()["schema"]


def test_one_json_log_line_per_request(make_app, auth):
    app = make_app(REQUEST_LOG=True)
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Collect()
    security.request_log.addHandler(handler)
    try:
        client = app.test_client()
        client.get("/login")
        client.get("/missing")
    finally:
        security.request_log.removeHandler(handler)
    lines = [json.loads(r) for r in records]
    assert [(ln["method"], ln["path"], ln["status"]) for ln in lines] == [
        ("GET", "/login", 200),
        ("GET", "/missing", 404),
    ]
    assert all(isinstance(ln["duration_ms"], float) and "user_id" in ln for ln in lines)


@pytest.mark.fresh_db
def test_a_broken_database_still_gets_an_error_page(client, auth, engine):
    from kb_app import db

    auth.login_as("trainer")
    db.downgrade(engine, "base")  # every query now fails
    response = client.get("/")
    assert response.status_code == 500
    assert "500" in text(response)
    assert client.get("/readyz").status_code == 503
