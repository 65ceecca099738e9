"""Sessions end on the server: a session cookie copied before sign-out or before a password
change no longer reads anything (before, it kept reading /api/v1/me for 12 hours)."""

from __future__ import annotations


def _copy_of_the_cookie(app, client):
    thief = app.test_client()
    cookie = client.get_cookie("kb_session")
    thief.set_cookie("kb_session", cookie.value)
    return thief


def test_signing_out_revokes_the_session_cookie_everywhere(app, client, auth):
    auth.login_as("agent")
    thief = _copy_of_the_cookie(app, client)
    other_device = app.test_client()
    auth_other = type(auth)(other_device, auth._make_user)
    assert auth_other.login(auth.user.email).status_code == 302
    assert thief.get("/api/v1/me").status_code == 200
    auth.logout()
    assert thief.get("/api/v1/me").status_code == 401
    assert other_device.get("/api/v1/me").status_code == 401
    assert thief.get("/").status_code == 302  # pages send it to sign in


def test_a_password_change_signs_out_every_other_session(app, client, auth, csrf_from, default_password):
    auth.login_as("agent")
    thief = _copy_of_the_cookie(app, client)
    page = client.get("/account/password").get_data(as_text=True)
    changed = client.post(
        "/account/password",
        data={
            "current": default_password,
            "new": "a-new-long-passphrase-42",
            "confirm": "a-new-long-passphrase-42",
            "csrf_token": csrf_from(page),
        },
    )
    assert changed.status_code == 302
    assert thief.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 200  # the session that changed it stays
