"""A bearer token's identity, once any worker has read it, is shared through Redis: another worker
(or node) believes it without reading a token or user row, but never after the token, its user or
the agent changed, and never with the secrets of the user row."""

from __future__ import annotations

import json

import redis
from sqlalchemy import Engine, select

from kb_app import shared_state, users
from kb_app.db import session_scope
from kb_app.models import Agent, ApiToken, User
from tests.web.test_hot_paths import counted
from tests.fixtures.redis_state import REDIS_URL

ME = "/api/v1/me"


def _another_worker() -> None:
    """What a request in another worker process sees: none of this process's own believed copies."""
    users.identities.clear()


def _token_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if "api_tokens" in s or "FROM users" in s]


def _shared_keys(app) -> list[str]:
    """The shared identities the app's database has in the test's Redis database (the fixture
    empties it of this test's namespaces before and after; tests running beside this one on
    other databases keep theirs in other namespaces)."""
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    url = (bind if isinstance(bind, Engine) else bind.engine).url.render_as_string(hide_password=False)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    return list(client.scan_iter(f"{shared_state.namespace_for(url)}:identity:*"))


def _signed_in_agent(redis_settings, make_app, make_user, make_token):
    """An app on Redis, an agent whose token one request has used (so its identity is shared)."""
    app = make_app(redis_settings)
    client = app.test_client()
    agent = make_user("agent")
    headers = {"Authorization": f"Bearer {make_token(agent)}"}
    first = client.get(ME, headers=headers)
    assert first.status_code == 200
    return app, client, agent, headers, first


def _kept(key: str) -> dict:
    """The payload of a shared identity (after its signature)."""
    raw = redis.Redis.from_url(REDIS_URL, decode_responses=True).get(key)
    return json.loads(raw.partition(".")[2])


def test_another_worker_believes_a_token_read_by_one_without_reading_its_rows(
    redis_settings, make_app, make_user, make_token
):
    app, client, agent, headers, first = _signed_in_agent(redis_settings, make_app, make_user, make_token)
    _another_worker()
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    with counted(bind) as statements:
        again = client.get(ME, headers=headers)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert _token_reads(statements) == [], statements


def test_the_shared_copy_keeps_no_password_hash_or_session_nonce(
    redis_settings, make_app, make_user, make_token, engine
):
    app, client, agent, headers, first = _signed_in_agent(redis_settings, make_app, make_user, make_token)
    (key,) = _shared_keys(app)
    payload = _kept(key)
    assert payload["user"]["email"] == agent.email and payload["agent"]["tier"] == agent.agent.tier
    assert "password_hash" not in payload["user"] and "session_nonce" not in payload["user"]
    # A request that needs them reads them from the database.
    _another_worker()
    with session_scope(engine) as session:
        secret = make_token(agent, "second")  # a change: the shared copies are stale from here on
        assert users.user_for_token(session, secret, ip="127.0.0.1") is not None
        _another_worker()
        believed = users.user_for_token(session, secret, ip="127.0.0.1")
        assert believed is not None and believed.session_nonce == session.get(User, agent.id).session_nonce


def test_a_revoked_token_or_a_leaver_is_refused_by_every_worker_at_once(
    redis_settings, make_app, make_user, make_token, engine
):
    app = make_app(redis_settings)
    client = app.test_client()
    revoked, leaver = make_user("agent"), make_user("agent")
    revoked_headers = {"Authorization": f"Bearer {make_token(revoked)}"}
    leaver_headers = {"Authorization": f"Bearer {make_token(leaver)}"}
    assert client.get(ME, headers=revoked_headers).status_code == 200
    assert client.get(ME, headers=leaver_headers).status_code == 200
    with session_scope(engine) as session:
        token = session.scalar(select(ApiToken).where(ApiToken.user_id == revoked.id))
        users.revoke_token(session, token, actor="test")
        session.get(Agent, leaver.agent_id).active = False
    for state in shared_state._states.values():
        state._memo = None  # past the 50-ms memo of the generation
    _another_worker()
    assert client.get(ME, headers=revoked_headers).status_code == 401
    assert client.get(ME, headers=leaver_headers).status_code == 401


def test_a_shared_copy_that_cannot_be_read_or_is_forged_is_ignored(redis_settings, make_app, make_user, make_token):
    app, client, agent, headers, first = _signed_in_agent(redis_settings, make_app, make_user, make_token)
    (key,) = _shared_keys(app)
    payload = _kept(key)
    # Someone who can write to Redis but has not the app's secret key claims to be an admin.
    forged = json.dumps({**payload, "user": {**payload["user"], "role": "admin"}})
    store = redis.Redis.from_url(REDIS_URL)
    for garbage in (b"{not json", b"0" * 64 + b"." + forged.encode(), forged.encode(), b"[]", b"."):
        store.set(key, garbage)
        _another_worker()
        answer = client.get(ME, headers=headers)
        assert answer.status_code == 200 and answer.get_json() == first.get_json(), garbage[:80]
        store.set(key, garbage)
    _another_worker()
    store.delete(key)
    assert client.get(ME, headers=headers).status_code == 200
