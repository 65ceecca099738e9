"""The requests every agent makes during a crisis stay a small, constant number of SQL statements,
whatever the number of requirements, acknowledgements and update quizzes (no N+1), with the
shared-state cache off (every request computes) and on (a repeat request reads it)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select

from kb_app import releases, users
from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import ApiToken, AuditEvent, PublishedVersion, User
from tests.quizzes.factories import make_bank, write_bank

BANNER = "/api/v1/me/banner?path=/sop/procedures/sop-0/"


@contextmanager
def counted(engine):
    """The SQL statements the block sends (transaction control excluded)."""
    statements: list[str] = []

    def collect(_conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", collect)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", collect)


def publish_sops(engine, settings, sop_dir, count: int, *, gated: int = 0) -> None:
    """`count` SOPs published a day ago; the first `gated` gated by an update quiz each."""
    for n in range(count):
        sop_dir.write(f"SOP-{n}")
    for n in range(gated):
        write_bank(settings.quiz_dir, make_bank(f"update-sop-{n}", kind="update", sops=[f"SOP-{n}"], version="1.0"))
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=1), by="test")


def agent_client(make_app, settings, make_user, make_token, *, cache_seconds: int):
    app = make_app(settings.replace(cache_seconds=cache_seconds))
    user = make_user("agent")
    return app, app.test_client(), {"Authorization": f"Bearer {make_token(user)}"}


def statements_for(app, client, headers, path: str, *, method: str = "GET", **kwargs) -> list[str]:
    # The test app's request sessions are bound to the test's engine (see conftest.make_app).
    engine = app.extensions["kb_sessionmaker"].kw["bind"]
    with counted(engine) as statements:
        response = client.open(path, method=method, headers=headers, **kwargs)
    assert response.status_code < 300, response.get_data(as_text=True)
    return statements


def acknowledge(client, headers, sop_id: str) -> None:
    content_hash = client.get(f"/api/v1/sops/{sop_id}/changes", headers=headers).get_json()["content_hash"]
    body = {"sop_id": sop_id, "content_hash": content_hash}
    assert client.post("/api/v1/acknowledgements", json=body, headers=headers).status_code == 201


@pytest.mark.parametrize("path", [BANNER, "/api/v1/reading-list"])
def test_agent_reads_are_a_constant_number_of_queries(
    path, make_app, settings, engine, sop_dir, make_user, make_token, db_backend
):
    few_app, few, few_headers = agent_client(make_app, settings, make_user, make_token, cache_seconds=0)
    many_app, many, many_headers = agent_client(make_app, settings, make_user, make_token, cache_seconds=0)
    publish_sops(engine, settings, sop_dir, 2, gated=1)
    acknowledge(few, few_headers, "SOP-1")  # gate decisions are final once something counts
    few_counts = [len(statements_for(few_app, few, few_headers, path)) for _ in range(2)]
    assert len(few.get("/api/v1/reading-list", headers=few_headers).get_json()["items"]) == 1  # SOP-0, waiting
    # Eight more requirements, three more update quizzes, and acknowledgements on the way.
    for n in range(2, 10):
        sop_dir.write(f"SOP-{n}")
    for n in range(1, 4):
        write_bank(settings.quiz_dir, make_bank(f"update-sop-{n}", kind="update", sops=[f"SOP-{n}"], version="1.0"))
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc), by="test")
    for n in (1, 2, 5):
        acknowledge(many, many_headers, f"SOP-{n}")
    assert (
        len(many.get("/api/v1/reading-list", headers=many_headers).get_json()["items"]) == 8
    )  # SOP-2 waits for its quiz
    many_counts = [len(statements_for(many_app, many, many_headers, path)) for _ in range(2)]
    # Repeat requests of the same kind cost the same, whatever the agent has on their list.
    # token, release stamp, then assignments, acknowledgements, reading tasks, gates, passes
    # (whether every gate is decided is asked once per release and process)
    assert few_counts[1] == many_counts[1] <= 7, (few_counts, many_counts)


def test_the_cache_answers_a_repeat_banner_without_a_query(make_app, settings, engine, sop_dir, make_user, make_token):
    app, client, headers = agent_client(make_app, settings, make_user, make_token, cache_seconds=30)
    publish_sops(engine, settings, sop_dir, 5, gated=2)
    first = statements_for(app, client, headers, BANNER)
    again = statements_for(app, client, headers, BANNER)
    # The token was checked, the release stamp read (at most once a second) and the standing
    # cached by the first request: a repeat reads the shared state only.
    assert again == [] and first, (first, again)
    assert client.get(BANNER, headers=headers).get_json()["page"]["state"] == "action_required"
    # The stamp is read again once it is a second old: one query of two index lookups.
    releases.forget_release_stamps()
    assert len(statements_for(app, client, headers, BANNER)) == 1


@pytest.mark.parametrize("path", [BANNER, "/api/v1/acknowledgements"])
def test_a_token_with_nothing_to_record_keeps_one_connection_and_commits_only_writes(
    make_app, settings, engine, sop_dir, make_user, make_token, path
):
    app, client, headers = agent_client(make_app, settings, make_user, make_token, cache_seconds=30)
    publish_sops(engine, settings, sop_dir, 3)
    acknowledge(client, headers, "SOP-0")  # the worker's first acknowledgement settles the gates
    content_hash = client.get("/api/v1/sops/SOP-1/changes", headers=headers).get_json()["content_hash"]
    users.identities.clear()  # as in another worker: the token is looked up, its use not yet due
    factory = app.extensions["kb_sessionmaker"]
    begun: list[object] = []
    committed: list[object] = []

    def began(_session, _transaction, connection):
        begun.append(connection)

    def commit(session):
        committed.append(session)

    event.listen(factory, "after_begin", began)
    event.listen(factory, "after_commit", commit)
    try:
        if path == BANNER:
            response = client.get(path, headers=headers)
        else:
            body = {"sop_id": "SOP-1", "content_hash": content_hash}
            response = client.post(path, json=body, headers=headers)
    finally:
        event.remove(factory, "after_begin", began)
        event.remove(factory, "after_commit", commit)
    assert response.status_code < 300, response.get_data(as_text=True)
    # The token check and the work share one transaction (one connection from the pool, no
    # commit between them); only the acknowledgement commits.
    assert len(begun) == 1, begun
    assert len(committed) == (0 if path == BANNER else 1), committed


def test_a_revoked_token_is_refused_at_once_though_it_was_just_believed(
    make_app, settings, engine, make_user, make_token, session
):
    app = make_app()
    client = app.test_client()
    user, other = make_user("agent"), make_user("agent")
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    other_headers = {"Authorization": f"Bearer {make_token(other)}"}
    for _ in range(3):
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        assert client.get("/api/v1/me", headers=other_headers).status_code == 200
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    with counted(bind) as believed:
        assert client.get("/api/v1/me", headers=headers).get_json()["email"] == user.email
    assert believed == []
    token = session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    users.revoke_token(session, token, actor="test")
    session.commit()
    answer = client.get("/api/v1/me", headers=headers)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "unauthorized"
    # Deactivating a user ends their cached token the same way; others' tokens keep working.
    users.deactivate_user(session, session.get(User, other.id), actor="test")
    session.commit()
    assert client.get("/api/v1/me", headers=other_headers).status_code == 401


def test_a_role_change_is_seen_on_the_next_request(make_app, settings, engine, make_user, make_token, session):
    app = make_app()
    client = app.test_client()
    user = make_user("trainer")
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    assert client.get("/api/v1/me", headers=headers).get_json()["role"] == "trainer"
    session.get(User, user.id).role = "lead"
    session.commit()
    assert client.get("/api/v1/me", headers=headers).get_json()["role"] == "lead"


def test_recording_token_use_does_not_end_the_cache_of_other_tokens(make_app, make_user, make_token):
    app = make_app()
    client = app.test_client()
    one, two = make_user("agent"), make_user("agent")
    first = {"Authorization": f"Bearer {make_token(one)}"}
    second = {"Authorization": f"Bearer {make_token(two)}"}
    client.get("/api/v1/me", headers=first)
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    client.get("/api/v1/me", headers=second)  # records the second token's first use
    with counted(bind) as statements:
        assert client.get("/api/v1/me", headers=first).status_code == 200
    assert statements == []


def test_acknowledging_is_a_constant_number_of_queries(make_app, settings, engine, sop_dir, make_user, make_token):
    app, client, headers = agent_client(make_app, settings, make_user, make_token, cache_seconds=30)
    publish_sops(engine, settings, sop_dir, 10, gated=3)
    counts, sent = [], []
    for n in (4, 5, 6):  # ungated SOPs, as many open requirements each time
        content_hash = client.get(f"/api/v1/sops/SOP-{n}/changes", headers=headers).get_json()["content_hash"]
        body = {"sop_id": f"SOP-{n}", "content_hash": content_hash}
        sent = statements_for(app, client, headers, "/api/v1/acknowledgements", method="POST", json=body)
        counts.append(len(sent))
    # The insert and the covering update (on PostgreSQL one statement); at most once a second the
    # release stamp and the queued token uses ride along. The first acknowledgement also decides
    # gates and reads the release.
    assert max(counts[1:]) <= 4, counts
    # No read of acknowledgements, assignments or versions before the write.
    writes = [" ".join(st.split()[:3]) for st in sent if not st.lstrip().upper().startswith("SELECT")]
    if engine.dialect.name == "postgresql":
        [write] = [st for st in sent if st.lstrip().startswith("WITH inserted AS")]
        assert writes == ["WITH inserted AS"] and "INSERT INTO acknowledgements" in write, sent
        assert "UPDATE assignments SET" in write, sent
    else:
        assert writes == ["INSERT INTO acknowledgements", "UPDATE assignments SET"], sent
    assert not any(st.lstrip().startswith("SELECT") and "FROM acknowledgements" in st for st in sent), sent
    assert not any(st.lstrip().startswith("SELECT") and "FROM assignments" in st for st in sent), sent


def test_an_acknowledgement_shows_on_the_next_banner_at_once(
    make_app, settings, engine, sop_dir, make_user, make_token
):
    app, client, headers = agent_client(make_app, settings, make_user, make_token, cache_seconds=30)
    publish_sops(engine, settings, sop_dir, 1)
    assert client.get(BANNER, headers=headers).get_json()["page"]["state"] == "action_required"
    content_hash = client.get("/api/v1/sops/SOP-0/changes", headers=headers).get_json()["content_hash"]
    client.post("/api/v1/acknowledgements", json={"sop_id": "SOP-0", "content_hash": content_hash}, headers=headers)
    assert client.get(BANNER, headers=headers).get_json()["page"]["state"] == "acknowledged"


def test_a_page_of_no_sop_tells_how_many_updates_wait_and_how_many_are_overdue(
    make_app, settings, engine, sop_dir, make_user, make_token
):
    app, client, headers = agent_client(make_app, settings, make_user, make_token, cache_seconds=30)
    for n in range(3):
        sop_dir.write(f"SOP-{n}")
    with session_scope(engine) as session:  # due five days ago
        six_days_ago = datetime.now(timezone.utc) - timedelta(days=6)
        publish(session, load_catalog(sop_dir.root), now=six_days_ago, by="test", due_days=1)
    sop_dir.write("SOP-3")
    publish_sops(engine, settings, sop_dir, 0)  # SOP-3, due in a week
    for _ in range(2):  # computed, then kept
        banner = client.get("/api/v1/me/banner?path=/sop/", headers=headers).get_json()
        assert banner["page"] is None
        assert (banner["text"], banner["level"]) == ("You have 4 SOP updates to acknowledge, 3 overdue.", "danger")
        assert banner["url"].endswith("/reading-list")
    for n in range(3):
        acknowledge(client, headers, f"SOP-{n}")
    banner = client.get("/api/v1/me/banner?path=/sop/", headers=headers).get_json()
    assert (banner["text"], banner["level"]) == ("You have 1 SOP update to acknowledge.", "warning")


def test_a_publish_shows_on_the_next_banner_at_once(make_app, settings, engine, sop_dir, make_user, make_token):
    app, client, headers = agent_client(make_app, settings, make_user, make_token, cache_seconds=30)
    publish_sops(engine, settings, sop_dir, 1)
    content_hash = client.get("/api/v1/sops/SOP-0/changes", headers=headers).get_json()["content_hash"]
    client.post("/api/v1/acknowledgements", json={"sop_id": "SOP-0", "content_hash": content_hash}, headers=headers)
    assert client.get(BANNER, headers=headers).get_json()["page"]["state"] == "acknowledged"
    sop_dir.write("SOP-0", version="2.0", body="## Purpose {#purpose}\n\nNew text.\n")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc), by="test")
    page = client.get(BANNER, headers=headers).get_json()["page"]
    assert page["state"] == "action_required" and page["version"] == "2.0"


def test_token_use_is_recorded_once_a_minute_and_audited_per_new_address(
    make_app, settings, engine, make_user, make_token, session
):
    app = make_app()
    client = app.test_client()
    user = make_user("agent")
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    with counted(bind) as first:
        client.get("/api/v1/me", headers=headers)
    with counted(bind) as storm:
        for _ in range(20):
            assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert not [s for s in storm if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert [s for s in first if s.lstrip().upper().startswith("UPDATE")]
    client.get("/api/v1/me", headers=headers, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    uses = session.scalars(select(AuditEvent).where(AuditEvent.action == "token.use")).all()
    assert [u.ip for u in uses] == ["127.0.0.1", "10.9.8.7"]
    token = session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token.last_used_at is not None and token.last_used_ip == "10.9.8.7"
    assert session.scalar(select(func.count()).select_from(PublishedVersion)) == 0


def test_a_signed_in_agent_is_believed_until_deactivated(make_app, make_auth, session):
    app = make_app()
    client = app.test_client()
    user = make_auth(client).login_as("agent")
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    assert client.get("/api/v1/me").status_code == 200
    with counted(bind) as statements:
        assert client.get("/api/v1/me").get_json()["email"] == user.email
    assert statements == []  # the session's user was read by the request before
    users.deactivate_user(session, session.get(User, user.id), actor="test")
    session.commit()
    assert client.get("/api/v1/me").status_code == 401


def test_an_sso_identity_is_believed_until_its_user_changes(make_app, make_user, session):
    app = make_app(TRUSTED_HEADER="X-Forwarded-User")
    client = app.test_client()
    user = make_user("trainer")
    header = {"X-Forwarded-User": user.email}
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    assert client.get("/api/v1/me", headers=header).get_json()["role"] == "trainer"
    with counted(bind) as statements:
        assert client.get("/api/v1/me", headers=header).get_json()["role"] == "trainer"
    assert statements == []
    session.get(User, user.id).role = "lead"
    session.commit()
    assert client.get("/api/v1/me", headers=header).get_json()["role"] == "lead"
    users.deactivate_user(session, session.get(User, user.id), actor="test")
    session.commit()
    assert client.get("/api/v1/me", headers=header).status_code == 401


def test_token_use_a_minute_on_is_written_in_a_batch_not_by_each_request(
    make_app, make_user, make_token, session, monkeypatch
):
    app = make_app()
    client = app.test_client()
    tokens = [make_token(make_user("agent")) for _ in range(3)]
    for secret in tokens:
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    first_use = {t.id: t.last_used_at for t in session.scalars(select(ApiToken))}
    # Two minutes on, each token is used again from the same address.
    later = datetime.now(timezone.utc) + timedelta(minutes=2)
    monkeypatch.setattr(users, "utcnow", lambda: later)
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    with counted(bind) as statements:
        for secret in tokens:
            assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert statements == []  # nothing written yet, nothing read
    monkeypatch.setattr(users, "USE_FLUSH_SECONDS", 0.0)
    with counted(bind) as statements:
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 200
    assert [s for s in statements if s.lstrip().upper().startswith("UPDATE")], statements  # one batch
    session.expire_all()
    for token in session.scalars(select(ApiToken)):
        assert token.last_used_at > first_use[token.id].replace(tzinfo=token.last_used_at.tzinfo)
    # No audit row for these uses: same address as before.
    assert len(session.scalars(select(AuditEvent).where(AuditEvent.action == "token.use")).all()) == 3
