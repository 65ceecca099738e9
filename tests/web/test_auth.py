"""Sign-in, sign-out, password change, CSRF, rate limiting, cookies and SSO header mode."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kb_app.models import AuditEvent

DEFAULT_PASSWORD = "correct-horse-battery"  # what the make_user fixture gives every user


@pytest.fixture(autouse=True)
def _same_default_password(default_password):
    assert default_password == DEFAULT_PASSWORD


@pytest.fixture
def token_of(csrf_from):
    return lambda response: csrf_from(response.get_data(as_text=True))


def audit_actions(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_pages_need_sign_in(client):
    for path in ("/", "/roster", "/sop/", "/admin/audit", "/account/password"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")


def test_sign_in_and_out(client, auth, session):
    user = auth.login_as("trainer")
    assert client.get("/").status_code == 200
    response = auth.logout()
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    assert audit_actions(session)[-2:] == ["login.success", "logout"]
    del user


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client, auth, make_user, session):
    user = make_user("trainer")
    response = auth.login(user.email, "not the password")
    assert response.status_code == 200
    assert "That email or password is not right" in response.get_data(as_text=True)
    unknown = auth.login("nobody@example.com", "whatever-password")
    assert "That email or password is not right" in unknown.get_data(as_text=True)
    session.expire_all()
    failures = session.scalars(select(AuditEvent).where(AuditEvent.action == "login.failure")).all()
    assert [f.actor for f in failures] == [user.email, "nobody@example.com"]


def test_agents_can_sign_in_with_their_employee_id(client, auth, make_user):
    user = make_user("agent", employee_id=None)
    assert auth.login(user.agent.employee_id).status_code == 302


def test_forms_without_csrf_token_are_refused(client, auth, make_user):
    user = make_user("trainer")
    response = client.post("/login", data={"identifier": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    auth.login(user.email)
    assert client.post("/logout").status_code == 400
    assert client.post("/account/password", data={"current": "x", "new": "y", "confirm": "y"}).status_code == 400
    assert client.get("/").status_code == 200  # still signed in


def test_brute_force_sign_in_is_rate_limited(make_app, make_user, token_of):
    app = make_app(LOGIN_RATE_LIMIT="5 per minute")
    client = app.test_client()
    user = make_user("admin")
    token = token_of(client.get("/login"))
    statuses = [
        client.post(
            "/login", data={"identifier": user.email, "password": f"guess-{n}", "csrf_token": token}
        ).status_code
        for n in range(7)
    ]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429, 429]
    blocked = client.post("/login", data={"identifier": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token})
    assert blocked.status_code == 429
    assert "Too many" in blocked.get_data(as_text=True)
    assert client.get("/login").status_code == 200  # only attempts are limited, not the page


def test_guessing_one_account_from_many_addresses_is_limited_too(make_app, make_user, token_of):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute", LOGIN_IDENTIFIER_RATE_LIMIT="3 per hour")
    user = make_user("admin")
    statuses = []
    for n in range(5):
        client = app.test_client()
        token = token_of(client.get("/login"))
        statuses.append(
            client.post(
                "/login",
                data={"identifier": user.email, "password": "wrong-password", "csrf_token": token},
                environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
            ).status_code
        )
    assert statuses == [200, 200, 200, 429, 429]


def test_successful_sign_ins_do_not_use_up_the_limit(make_app, make_user, token_of):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    user = make_user("trainer")
    for _ in range(4):
        token = token_of(client.get("/login"))
        assert (
            client.post(
                "/login", data={"identifier": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token}
            ).status_code
            == 302
        )
        client.post("/logout", data={"csrf_token": token_of(client.get("/"))})


def test_session_cookie_is_httponly_and_samesite_lax_and_secure_when_configured(make_app, make_user, token_of):
    user = make_user("trainer")
    for secure in (False, True):
        app = make_app(SESSION_COOKIE_SECURE=secure)
        client = app.test_client()
        base = "https://kb.example" if secure else "http://localhost"
        page = client.get("/login", base_url=base)
        token = token_of(page)
        response = client.post(
            "/login", data={"identifier": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token}, base_url=base
        )
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


def test_next_only_follows_paths_on_this_site(client, auth, make_user):
    user = make_user("trainer")
    token = auth.csrf_token()
    for target, expected in [
        ("/roster?site=manila", "/roster?site=manila"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
    ]:
        response = client.post(
            "/login", data={"identifier": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token, "next": target}
        )
        assert response.headers["Location"] == expected, target
        auth.logout()
        token = auth.csrf_token()


def test_password_change_keeps_this_session_and_ends_others(app, auth, make_user, token_of):
    user = make_user("trainer")
    other = app.test_client()
    token = token_of(other.get("/login"))
    other.post("/login", data={"identifier": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token})
    assert other.get("/").status_code == 200
    auth.login(user.email)
    response = auth._client.post(
        "/account/password",
        data={
            "current": DEFAULT_PASSWORD,
            "new": "a-better-password",
            "confirm": "a-better-password",
            "csrf_token": auth.csrf_token(),
        },
    )
    assert response.status_code == 302
    assert auth._client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    auth.logout()
    assert auth.login(user.email, "a-better-password").status_code == 302


def test_password_change_refuses_a_wrong_current_password(client, auth):
    auth.login_as("trainer")
    response = client.post(
        "/account/password",
        data={
            "current": "wrong-one",
            "new": "a-better-password",
            "confirm": "a-better-password",
            "csrf_token": auth.csrf_token(),
        },
    )
    assert response.status_code == 200
    assert "The current password is not right." in response.get_data(as_text=True)


def test_trusted_header_mode_takes_identity_from_the_proxy_header(make_app, make_user):
    app = make_app(TRUSTED_HEADER="X-Forwarded-User")
    client = app.test_client()
    user = make_user("trainer")
    assert client.get("/", headers={"X-Forwarded-User": user.email}).status_code == 200
    assert client.get("/").status_code == 302  # no header, no user
    assert client.get("/", headers={"X-Forwarded-User": "stranger@example.com"}).status_code == 302
    assert client.get("/login").status_code == 401
    me = client.get("/api/v1/me", headers={"X-Forwarded-User": user.email})
    assert me.get_json()["email"] == user.email


def test_trusted_header_is_ignored_unless_configured(client, make_user):
    user = make_user("admin")
    assert client.get("/", headers={"X-Forwarded-User": user.email}).status_code == 302
