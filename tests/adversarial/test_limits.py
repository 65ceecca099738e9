"""Limits per person: the API limit counts each user or token (not the shared BPO address), and
the sign-in guess limit counts each account whichever identifier is typed."""

from __future__ import annotations


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_one_busy_token_does_not_lock_out_others_behind_the_same_address(make_app, make_user, make_token, make_auth):
    app = make_app(API_RATE_LIMIT="3 per minute")
    client = app.test_client()
    busy, other = bearer(make_token(make_user("agent"))), bearer(make_token(make_user("agent")))
    assert [client.get("/api/v1/me", headers=busy).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get("/api/v1/me", headers=other).status_code == 200
    browser = app.test_client()
    make_auth(browser).login_as("partner_manager")
    assert browser.get("/api/v1/me").status_code == 200  # a signed-in manager on the same address too


def test_unauthenticated_requests_are_limited_by_address(make_app):
    client = make_app(API_RATE_LIMIT="2 per minute").test_client()
    statuses = [client.get("/api/v1/me", headers=bearer(f"kbt_guess-{n}")).status_code for n in range(3)]
    assert statuses == [401, 401, 429]


def test_the_guess_limit_counts_the_account_not_the_typed_identifier(make_app, make_user, make_auth):
    app = make_app(LOGIN_IDENTIFIER_RATE_LIMIT="4 per hour", LOGIN_RATE_LIMIT="1000 per minute")
    user = make_user("agent")
    employee_id = user.agent.employee_id
    statuses = []
    for identifier in (user.email, employee_id, user.email.upper(), employee_id.lower(), employee_id):
        client = app.test_client()
        statuses.append(make_auth(client).login(identifier, "wrong-password").status_code)
    assert statuses[:4] == [200, 200, 200, 200] and statuses[4] == 429
