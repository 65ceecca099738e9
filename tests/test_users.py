"""Users, roles, passwords and API tokens (core and `kb user` / `kb token`)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from kb_app import users
from kb_app.models import ApiToken, AuditEvent, User

PASSWORD = "correct-horse-battery"


def events(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_passwords_are_stored_as_argon2id_hashes(session, make_user):
    user = make_user("trainer")
    stored = session.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.verify_password(stored, PASSWORD)
    assert not users.verify_password(stored, PASSWORD + "x")
    assert not users.verify_password("not a hash", PASSWORD)
    assert not users.verify_password(None, PASSWORD)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "boss"}, "unknown role"),
        ({"role": "trainer", "email": "nobody"}, "not an email address"),
        ({"role": "partner_manager"}, "needs --vendor"),
        ({"role": "trainer", "vendor": "apex-cx"}, "only a partner manager has a vendor"),
        ({"role": "agent"}, "needs --employee-id"),
        ({"role": "agent", "employee_id": "NOPE"}, "no roster entry"),
        ({"role": "admin", "employee_id": "E1"}, "only an agent"),
        ({"role": "admin", "password": "short"}, "at least 10 characters"),
    ],
)
def test_create_user_refuses_what_the_role_does_not_allow(session, fields, message):
    values = {"email": "x@example.com", **fields}
    with pytest.raises(users.AccountError, match=message):
        users.create_user(session, **values)


def test_an_agent_login_is_tied_to_one_roster_entry(session, make_agent):
    agent = make_agent(employee_id="NW-7", name="Maria Santos")
    user = users.create_user(session, email="Maria@Example.com", role="agent", employee_id="NW-7", password=PASSWORD)
    assert user.email == "maria@example.com" and user.display_name == "Maria Santos"
    assert user.agent.id == agent.id
    with pytest.raises(users.AccountError, match="already has a login"):
        users.create_user(session, email="other@example.com", role="agent", employee_id="NW-7")
    with pytest.raises(users.AccountError, match="already exists"):
        users.create_user(session, email="MARIA@example.com", role="trainer")


def test_audience_follows_role_and_tier(make_user):
    assert users.audience_of(make_user("agent", tier="T1")) == "T1"
    assert users.audience_of(make_user("agent", tier="T2", vendor="in-house")) == "T2"
    assert users.audience_of(make_user("partner_manager")) == "T1"
    assert users.audience_of(make_user("trainer")) == "T2"
    assert users.audience_of(make_user("admin")) == "T2"


def test_roster_scope_is_the_vendor_for_partner_managers_and_none_for_staff(make_user):
    assert users.roster_vendor_scope(make_user("partner_manager", vendor="apex-cx")) == "apex-cx"
    assert users.roster_vendor_scope(make_user("trainer")) is None
    with pytest.raises(PermissionError):
        users.roster_vendor_scope(make_user("agent"))


def test_authenticate_records_success_and_failure_with_the_attempted_identifier(session, make_user):
    user = make_user("agent", employee_id=None)
    assert users.authenticate(session, user.email.upper(), PASSWORD, ip="10.0.0.1").id == user.id
    assert users.authenticate(session, user.agent.employee_id, PASSWORD).id == user.id
    assert users.authenticate(session, user.email, "wrong password") is None
    assert users.authenticate(session, "ghost@example.com", PASSWORD) is None
    session.commit()
    assert [e.ip for e in events(session, "login.success")][:1] == ["10.0.0.1"]
    failures = events(session, "login.failure")
    assert [(e.actor, e.details["reason"]) for e in failures] == [
        (user.email, "bad_password"),
        ("ghost@example.com", "unknown_user"),
    ]
    assert session.get(User, user.id).last_login_at is not None


def test_inactive_users_and_agents_off_the_roster_cannot_sign_in(session, make_user, make_agent):
    user = make_user("trainer")
    users.deactivate_user(session, session.get(User, user.id))
    session.commit()
    assert users.authenticate(session, user.email, PASSWORD) is None
    gone = make_user("agent", active=False)
    assert users.authenticate(session, gone.email, PASSWORD) is None
    session.commit()
    assert [e.details["reason"] for e in events(session, "login.failure")] == ["inactive", "inactive"]


def test_changing_a_password_rotates_the_session_nonce(session, make_user):
    user = session.get(User, make_user("admin").id)
    old_session_id = users.session_id(user)
    assert users.user_for_session_id(session, old_session_id).id == user.id
    with pytest.raises(users.AccountError, match="current password"):
        users.change_password(session, user, "wrong", "a-new-password-123")
    users.change_password(session, user, PASSWORD, "a-new-password-123")
    session.commit()
    assert users.user_for_session_id(session, old_session_id) is None
    assert users.user_for_session_id(session, users.session_id(user)).id == user.id
    assert users.user_for_session_id(session, "garbage") is None
    assert events(session, "password.change")[0].actor == user.email


def test_tokens_are_stored_hashed_usable_and_revocable(session, make_user):
    user = session.get(User, make_user("trainer").id)
    new = users.create_token(session, user, "workforce-sync")
    session.commit()
    stored = session.get(ApiToken, new.token.id)
    assert new.secret.startswith("kbt_") and len(new.secret) > 40
    assert stored.token_hash == hashlib.sha256(new.secret.encode()).hexdigest()
    assert new.secret not in (stored.token_hash, stored.prefix)
    assert users.user_for_token(session, new.secret, path="/api/v1/me").id == user.id
    assert users.user_for_token(session, new.secret + "x") is None
    assert users.user_for_token(session, "") is None
    with pytest.raises(users.AccountError, match="already has an active token"):
        users.create_token(session, user, "workforce-sync")
    users.revoke_token(session, stored)
    session.commit()
    assert users.user_for_token(session, new.secret) is None
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-3:] == ["token.create", "token.use", "token.revoke"]


def test_deactivating_a_user_revokes_their_tokens(session, make_user):
    user = session.get(User, make_user("admin").id)
    new = users.create_token(session, user, "ci")
    users.deactivate_user(session, user)
    session.commit()
    assert users.user_for_token(session, new.secret) is None
    assert session.get(ApiToken, new.token.id).revoked_at is not None


# --- commands ------------------------------------------------------------------------------


def test_kb_user_create_with_password_from_stdin(runner, session, make_agent):
    make_agent(employee_id="NW-9")
    result = runner.invoke(
        [
            "user",
            "create",
            "--role",
            "agent",
            "--email",
            "nw9@example.com",
            "--employee-id",
            "NW-9",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "created agent nw9@example.com (NW-9)" in result.stdout
    assert users.authenticate(session, "nw9@example.com", PASSWORD) is not None


def test_kb_user_create_prompts_and_confirms_the_password(runner, session):
    result = runner.invoke(
        ["user", "create", "--role", "partner_manager", "--email", "pm@example.com", "--vendor", "apex-cx"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert users.user_by_email(session, "pm@example.com").vendor == "apex-cx"


def test_kb_user_create_reports_problems_with_exit_1(runner):
    result = runner.invoke(
        ["user", "create", "--role", "partner_manager", "--email", "pm@example.com", "--no-password"]
    )
    assert result.exit_code == 1
    assert "needs --vendor" in result.stderr
    weak = runner.invoke(
        ["user", "create", "--role", "admin", "--email", "a@example.com", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 1 and "at least 10" in weak.stderr
    assert runner.invoke(["user", "create", "--role", "boss", "--email", "a@example.com"]).exit_code == 2


def test_kb_user_set_password_and_list(runner, session, make_user):
    user = make_user("trainer")
    result = runner.invoke(
        ["user", "set-password", "--email", user.email, "--password-stdin"], input="brand-new-password\n"
    )
    assert result.exit_code == 0, result.output
    assert users.authenticate(session, user.email, "brand-new-password") is not None
    listing = runner.invoke(["user", "list", "--json"])
    assert f'"email": "{user.email}"' in listing.stdout
    missing = runner.invoke(["user", "set-password", "--email", "ghost@example.com", "--password-stdin"], input="x\n")
    assert missing.exit_code == 1 and "no user" in missing.stderr


def test_kb_token_create_shows_the_secret_once_list_never_and_revoke_works(runner, session, make_user):
    user = make_user("admin")
    created = runner.invoke(["token", "create", "--user", user.email, "--name", "nightly-export"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("kbt_")
    assert "not shown again" in created.stderr
    listing = runner.invoke(["token", "list"])
    assert "nightly-export" in listing.stdout and secret not in listing.stdout
    assert users.user_for_token(session, secret) is not None
    session.rollback()
    revoked = runner.invoke(["token", "revoke", "--user", user.email, "--name", "nightly-export"])
    assert revoked.exit_code == 0, revoked.output
    session.expire_all()
    assert users.user_for_token(session, secret) is None
    again = runner.invoke(["token", "revoke", "1"])
    assert again.exit_code == 1 and "no active token" in again.stderr
    assert runner.invoke(["token", "revoke"]).exit_code == 2


def test_the_identity_cache_drops_expired_entries_as_new_ones_come(monkeypatch):
    """A worker keeps who the last seconds' tokens were, not every agent it ever saw (each entry
    is objects the garbage collector walks)."""
    from kb_app import users as users_module

    clock = [1000.0]
    monkeypatch.setattr(users_module.time, "monotonic", lambda: clock[0])
    cache = users_module.IdentityCache(seconds=30, size=100, sweep_every=6)
    for n in range(4):
        cache.put("ns", f"old-{n}", 1, n)
    clock[0] += 20
    cache.put("ns", "old-0", 1, "again")  # seen again: kept as new
    clock[0] += 15  # old-1..3 are 35 s old, old-0 15 s
    assert cache.get("ns", "old-1", 1) is None and cache.get("ns", "old-0", 1) == "again"
    assert len(cache) == 4  # nothing swept yet
    cache.put("ns", "new", 1, "n")  # the sixth put sweeps
    assert len(cache) == 2 and cache.get("ns", "new", 1) == "n" and cache.get("ns", "old-0", 1) == "again"
    for n in range(200):  # the size still bounds it, whatever the sweep
        cache.put("ns", f"burst-{n}", 1, n)
    assert len(cache) <= 100


@pytest.mark.fresh_db
def test_a_batch_of_token_uses_that_meets_a_lock_is_kept_for_the_next_and_the_request_goes_on(
    db_backend, db_url, make_user, make_token, engine
):
    """Another transaction holds the token row (or, on SQLite, the database's write lock): the
    batch is not written, the session stays usable, and the next flush writes it."""
    from datetime import datetime, timezone

    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    user = make_user("agent")
    make_token(user)
    with Session(engine) as s:
        token_id = s.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id)).one()
    at = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    pending = users.PendingUses()
    pending.add("ns", token_id, at, "10.0.0.9")
    impatient = {"timeout": 0.2} if db_backend == "sqlite" else {"options": "-c lock_timeout=200"}
    holder_engine = create_engine(db_url)
    writer_engine = create_engine(db_url, connect_args=impatient)
    try:
        with holder_engine.connect() as holder, Session(writer_engine) as session:
            if db_backend == "sqlite":
                holder.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                holder.execute(text("SELECT id FROM api_tokens WHERE id = :id FOR UPDATE"), {"id": token_id})
            assert pending.flush(session, "ns") == 0
            assert session.execute(select(func.count()).select_from(ApiToken)).scalar_one() >= 1  # still usable
            session.rollback()
            holder.rollback()
            assert pending.flush(session, "ns") == 1
            session.commit()
        with Session(writer_engine) as s:
            token = s.get(ApiToken, token_id)
            assert (token.last_used_at.replace(tzinfo=timezone.utc), token.last_used_ip) == (at, "10.0.0.9")
    finally:
        holder_engine.dispose()
        writer_engine.dispose()
