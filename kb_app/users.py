"""Users, roles, passwords and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). API tokens are long random secrets, so a
plain SHA-256 of the secret is enough to store them; the secret is shown once at creation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from kb_app import audit, shared_state
from kb_app.db import loaded_copy
from kb_app.catalog.languages import SOURCE_LANGUAGE
from kb_app.models import ROLES, Agent, ApiToken, User, utcnow

log = logging.getLogger("kb_app.users")

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "kbt_"
ROSTER_ROLES = ("partner_manager", "trainer", "admin")
# Who reads coverage, quiz reports, item analysis and readiness: partner managers (their own
# vendor only), and the training team, admins and the read-only LOB lead (every vendor).
REPORT_ROLES = ("partner_manager", "trainer", "admin", "lead")
_EMAIL = re.compile(r"^[^@\s,;<>\"']+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_VENDOR = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_hasher = PasswordHasher()
# Verified against when the identifier is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about accounts that cannot be carried out, in words the user can act on."""


# --- passwords -----------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        _burn(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _burn(password: str) -> None:
    try:
        _hasher.verify(_DUMMY_HASH, password)
    except VerificationError:
        pass


def check_password_policy(password: str, *, email: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise AccountError("password is too long")
    if email and password.strip().lower() == email.strip().lower():
        raise AccountError("password must not be the email address")


def _new_nonce() -> str:
    return secrets.token_hex(16)


# --- users ---------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def signed_in_by_identity(session: Session, identifier: str) -> User | None:
    """The usable user an SSO proxy's header names (`user_by_identifier`), believed a while."""
    user = _believed(session, "sso:" + identifier, lambda: user_by_identifier(session, identifier))
    return user if is_usable(user) else None


def user_by_identifier(session: Session, identifier: str) -> User | None:
    """An email address, or an agent's employee id."""
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    user = user_by_email(session, identifier)
    if user is None and "@" not in identifier:
        user = session.scalar(select(User).join(User.agent).where(func.lower(Agent.employee_id) == identifier.lower()))
    return user


def is_usable(user: User | None) -> bool:
    """Active, and for an agent, still active on the roster."""
    if user is None or not user.active:
        return False
    return user.agent is None or user.agent.active


def create_user(
    session: Session,
    *,
    email: str,
    role: str,
    name: str = "",
    vendor: str | None = None,
    employee_id: str | None = None,
    password: str | None = None,
    actor: str = "",
    actor_user_id: int | None = None,
) -> User:
    """Create a user; an agent is linked to its roster entry by employee id."""
    email = normalize_email(email)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if user_by_email(session, email) is not None:
        raise AccountError(f"a user with email {email} already exists")
    vendor = (vendor or "").strip().lower() or None
    if role == "partner_manager":
        if not vendor:
            raise AccountError("a partner manager needs --vendor (the BPO vendor code they manage)")
        if not _VENDOR.match(vendor):
            raise AccountError(f"vendor {vendor!r} must be a code such as northwind-bpo")
    elif vendor:
        raise AccountError("only a partner manager has a vendor")
    agent = None
    if role == "agent":
        if not employee_id:
            raise AccountError("an agent needs --employee-id (their roster entry)")
        agent = session.scalar(select(Agent).where(Agent.employee_id == employee_id.strip()))
        if agent is None:
            raise AccountError(f"no roster entry with employee id {employee_id}")
        if session.scalar(select(User.id).where(User.agent_id == agent.id)) is not None:
            raise AccountError(f"employee {employee_id} already has a login")
    elif employee_id:
        raise AccountError("only an agent is linked to a roster entry")
    if password is not None:
        check_password_policy(password, email=email)
    user = User(
        email=email,
        name=(name or "").strip() or (agent.name if agent else ""),
        role=role,
        vendor=vendor,
        agent=agent,
        password_hash=hash_password(password) if password is not None else None,
        session_nonce=_new_nonce(),
        active=True,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "user.create",
        actor=actor,
        actor_user_id=actor_user_id,
        target=email,
        details={"role": role, "vendor": vendor, "employee_id": agent.employee_id if agent else None},
    )
    return user


def set_password(
    session: Session,
    user: User,
    password: str,
    *,
    actor: str = "",
    actor_user_id: int | None = None,
    action: str = "user.set_password",
    ip: str = "",
) -> None:
    """Replace a password and sign out every existing session of the user."""
    check_password_policy(password, email=user.email)
    user.password_hash = hash_password(password)
    user.session_nonce = _new_nonce()
    audit.record(session, action, actor=actor, actor_user_id=actor_user_id, target=user.email, ip=ip)


def change_password(session: Session, user: User, current: str, new: str, *, ip: str = "") -> None:
    if not verify_password(user.password_hash, current):
        raise AccountError("the current password is not right")
    if current == new:
        raise AccountError("the new password must differ from the current one")
    set_password(session, user, new, actor=user.email, actor_user_id=user.id, action="password.change", ip=ip)


def sign_out_everywhere(session: Session, user: User, *, ip: str = "") -> None:
    """End every session of the user on the server: a copied or stolen session cookie stops
    working at once (the cookie itself is only signed, so only the server can revoke it)."""
    user.session_nonce = _new_nonce()
    audit.record(session, "logout", actor=user.email, actor_user_id=user.id, ip=ip)


def deactivate_user(session: Session, user: User, *, actor: str = "", actor_user_id: int | None = None) -> None:
    user.active = False
    user.session_nonce = _new_nonce()
    for token in user_tokens(session, user):
        if token.revoked_at is None:
            token.revoked_at = utcnow()
    audit.record(session, "user.deactivate", actor=actor, actor_user_id=actor_user_id, target=user.email)


def authenticate(session: Session, identifier: str, password: str, *, ip: str = "") -> User | None:
    """The user if the password is right and the account usable; records success or failure."""
    user = user_by_identifier(session, identifier)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or not is_usable(user):
        reason = "unknown_user" if user is None else ("bad_password" if not ok else "inactive")
        audit.record(
            session,
            "login.failure",
            actor=(identifier or "")[:254],
            actor_user_id=user.id if user else None,
            ip=ip,
            details={"reason": reason},
        )
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    audit.record(session, "login.success", actor=user.email, actor_user_id=user.id, ip=ip)
    return user


def session_id(user: User) -> str:
    """The id Flask-Login keeps in the session cookie: user id plus the session nonce."""
    return f"{user.id}:{user.session_nonce}"


def user_for_session_id(session: Session, value: str) -> User | None:
    """The signed-in user of a session cookie's id (believed a while: `identities`)."""
    user_id, _, nonce = (value or "").partition(":")
    if not user_id.isdigit() or not nonce:
        return None
    user = _believed(session, "session:" + value, lambda: session.get(User, int(user_id)))
    if user is None or not secrets.compare_digest(user.session_nonce, nonce) or not is_usable(user):
        return None
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.email)))


def count_users_by_role(session: Session) -> dict[str, int]:
    rows = session.execute(select(User.role, func.count()).group_by(User.role))
    return {role: int(count) for role, count in rows}


# --- what a user may see -------------------------------------------------------------------


def audience_of(user: User) -> str:
    """Which site build a user reads: T1 agents and partner managers get T1, everyone else T2."""
    if user.role == "agent":
        return user.agent.tier if user.agent is not None else "T1"
    if user.role == "partner_manager":
        return "T1"
    return "T2"


def reading_language(user: User, chosen: str | None = None) -> str:
    """The language a user reads SOPs in: their own pick, else an agent's roster language, else the source's."""
    if chosen:
        return chosen
    if user.role == "agent" and user.agent is not None and user.agent.language:
        return user.agent.language
    return SOURCE_LANGUAGE


def can_see_roster(user: User) -> bool:
    return user.role in ROSTER_ROLES


def roster_vendor_scope(user: User) -> str | None:
    """The only vendor whose roster the user may see, or None for every vendor.

    Raises PermissionError for users who may not see the roster at all.
    """
    if user.role == "partner_manager":
        return user.vendor
    if user.role in ("trainer", "admin"):
        return None
    raise PermissionError("the roster is for partner managers, trainers and admins")


def report_vendor_scope(user: User) -> str | None:
    """The only vendor whose reports (coverage, readiness, quiz results) the user may see, or
    None for every vendor. Raises PermissionError for users who may not see reports at all."""
    if user.role == "partner_manager":
        return user.vendor
    if user.role in REPORT_ROLES:
        return None
    raise PermissionError("reports are for partner managers, trainers, admins and the LOB lead")


# --- API tokens ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    session: Session, user: User, name: str, *, actor: str = "", actor_user_id: int | None = None
) -> NewToken:
    name = (name or "").strip()
    if not name:
        raise AccountError("a token needs a name saying what uses it")
    if len(name) > 100:
        raise AccountError("token name is longer than 100 characters")
    if not is_usable(user):
        raise AccountError(f"{user.email} is not active")
    clash = session.scalar(
        select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.name == name, ApiToken.revoked_at.is_(None))
    )
    if clash is not None:
        raise AccountError(f"{user.email} already has an active token named {name!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=_token_hash(secret), prefix=secret[:10])
    session.add(token)
    session.flush()
    audit.record(
        session,
        "token.create",
        actor=actor,
        actor_user_id=actor_user_id,
        target=user.email,
        details={"token_id": token.id, "name": name},
    )
    return NewToken(token, secret)


def user_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    statement = select(ApiToken).order_by(ApiToken.id)
    if user is not None:
        statement = statement.where(ApiToken.user_id == user.id)
    return list(session.scalars(statement))


def find_tokens(
    session: Session, *, token_id: int | None = None, user: User | None = None, name: str | None = None
) -> list[ApiToken]:
    statement = select(ApiToken).where(ApiToken.revoked_at.is_(None))
    if token_id is not None:
        statement = statement.where(ApiToken.id == token_id)
    if user is not None:
        statement = statement.where(ApiToken.user_id == user.id)
    if name is not None:
        statement = statement.where(ApiToken.name == name)
    return list(session.scalars(statement))


def revoke_token(session: Session, token: ApiToken, *, actor: str = "", actor_user_id: int | None = None) -> None:
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    audit.record(
        session,
        "token.revoke",
        actor=actor,
        actor_user_id=actor_user_id,
        target=token.user.email,
        details={"token_id": token.id, "name": token.name},
    )


TOKEN_USE_RESOLUTION = timedelta(minutes=1)
IDENTITY_CACHE_SECONDS = 30.0  # who a token, session or SSO header is: believed this long, at most
IDENTITY_CACHE_SIZE = 50_000
# A token's identity as one worker read it, kept in Redis for every worker and node: believed only
# under the auth generation it was read under (any change to a user, agent or token moves that on
# everywhere), so its lifetime bounds memory, not staleness. Without Redis it is not kept.
IDENTITY_SHARED_SECONDS = 300
# Not kept outside the database: loaded from it, on first access, by a request that needs them.
_UNSHARED_COLUMNS = {"password_hash", "session_nonce"}


@dataclass
class _KnownToken:
    token_id: int
    user: User  # a detached copy, with its agent
    last_used_at: datetime | None
    last_used_ip: str


class IdentityCache:
    """Who a bearer token, a session id or an SSO identity stood for when this process last
    looked, so that a request storm reads no user or token rows.

    An entry is believed for IDENTITY_CACHE_SECONDS and only while the shared auth generation is
    the one it was read under: a new or changed user, agent or token through the ORM and a roster
    import move it on (in Redis for every worker and node; `_moves_auth_generation`). With Redis
    down, another worker's revocation reaches this one within IDENTITY_CACHE_SECONDS.

    Entries past that time are dropped as new ones come (every `sweep_every` puts), so the cache
    holds what the last IDENTITY_CACHE_SECONDS brought, not every agent a worker ever saw: each
    entry is a few dozen objects the garbage collector walks at every full collection, and a
    worker's pauses grow with them. `size` bounds it still.
    """

    def __init__(
        self, seconds: float = IDENTITY_CACHE_SECONDS, size: int = IDENTITY_CACHE_SIZE, sweep_every: int = 1000
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.sweep_every = sweep_every
        self._entries: dict[tuple[str, str], tuple[float, int, Any]] = {}
        self._puts = 0
        self._lock = threading.Lock()

    def get(self, ns: str, key: str, generation: int) -> Any | None:
        found = self._entries.get((ns, key))
        if found is None or found[1] != generation or time.monotonic() - found[0] >= self.seconds:
            return None
        return found[2]

    def put(self, ns: str, key: str, generation: int, value: Any) -> None:
        with self._lock:
            self._puts += 1
            if self._puts % self.sweep_every == 0:
                self._sweep()
            if len(self._entries) >= self.size:
                self._entries.clear()  # a bound, not a policy
            self._entries.pop((ns, key), None)  # to the end: the entries stay oldest first
            self._entries[(ns, key)] = (time.monotonic(), generation, value)

    def __len__(self) -> int:
        return len(self._entries)

    def _sweep(self) -> None:
        # The entries are in the order they were put, so the expired ones come first: stop at the
        # first that is still believed.
        cutoff = time.monotonic() - self.seconds
        expired = []
        for key, (at, _generation, _value) in self._entries.items():
            if at > cutoff:
                break
            expired.append(key)
        for key in expired:
            del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _detached_copy(user: User) -> User:
    """A copy of `user` (and its agent) that belongs to no session, as if loaded from the
    database: `session.merge(copy, load=False)` then gives a request its own instance, no query."""
    agent = None
    if user.agent is not None:
        agent = loaded_copy(Agent, {c.key: getattr(user.agent, c.key) for c in sa_inspect(Agent).column_attrs})
    return loaded_copy(User, {**{c.key: getattr(user, c.key) for c in sa_inspect(User).column_attrs}, "agent": agent})


identities = IdentityCache()


def _believed(session: Session, key: str, look_up: Callable[[], User | None]) -> User | None:
    """`look_up()`, or the user it gave for `key` lately (a request's own copy, no query)."""
    state = shared_state.for_session(session)
    if not state.cache_seconds:  # caches off (KB_CACHE_SECONDS=0, or several workers without Redis)
        return look_up()
    generation = state.auth_generation()
    known = identities.get(state.ns, key, generation)
    if known is not None:
        return session.merge(known, load=False)
    user = look_up()
    if user is not None and is_usable(user):
        identities.put(state.ns, key, generation, _detached_copy(user))
    return user


def user_for_token(session: Session, secret: str, *, ip: str = "", path: str = "") -> User | None:
    """The user a bearer token stands for; None for unknown or revoked.

    Use is recorded as `last_used_at`, at most once a minute per token and worker (a request
    storm writes nothing), in batches (`uses`) rather than by the request that uses it; the audit
    log gets the first use and every use from an address other than the last recorded one, at
    once, not one row per request. A token checked recently in this process is taken from
    `identities` without a query, and, with Redis, one checked by any worker or node from the
    shared copy (one round trip), unless it is used from a new address.
    """
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    digest = _token_hash(secret)
    state = shared_state.for_session(session)
    generation = state.auth_generation()
    now = utcnow()
    ip = ip[:64]
    known = None
    if state.cache_seconds:
        known = identities.get(state.ns, "token:" + digest, generation)
        if known is None:
            known = _shared_token(state, digest, generation)
            if known is not None:
                identities.put(state.ns, "token:" + digest, generation, known)
    if known is not None and known.last_used_ip == ip:
        if _use_due(known.last_used_at, known.last_used_ip, ip, now):
            uses.add(state.ns, known.token_id, now, ip)
            # This worker's copy only: re-sharing it would cost every wave request of a new agent a
            # round trip to spare the other workers a line each in their next batch of uses.
            known.last_used_at = now
        uses.flush_if_due(session, state.ns)
        return session.merge(known.user, load=False)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or token.revoked_at is not None or not is_usable(token.user):
        return None
    if token.last_used_at is None or (token.last_used_ip or "") != ip:
        # First use, or from a new address: recorded and audited with this request.
        token.last_used_at, token.last_used_ip = now, ip
        audit.record(
            session,
            "token.use",
            actor=token.user.email,
            actor_user_id=token.user_id,
            target=path,
            ip=ip,
            details={"token_id": token.id, "name": token.name, "new_address": True},
        )
    elif _use_due(token.last_used_at, token.last_used_ip or "", ip, now):
        uses.add(state.ns, token.id, now, ip)
        set_committed_value(token, "last_used_at", now)
    uses.flush_if_due(session, state.ns)
    if state.cache_seconds:
        if session.new or session.dirty:
            # Believed from now on only if what is about to be recorded commits.
            shared_state.after_commit(session, lambda: _believe_token(state, digest, generation, token))
        else:
            _believe_token(state, digest, generation, token)
    return token.user


def use_to_commit(session: Session) -> bool:
    """Whether the token check left writes in the session's transaction (a first use, a use from
    a new address, a batch of last-use times): a read-only request commits them at once, while a
    request with nothing to record keeps its transaction and connection for the rest of its work."""
    flushed_uses = session.info.pop(_USES_WRITTEN, False)
    return bool(session.new or session.dirty or flushed_uses)


def _believe_token(state: shared_state.SharedState, digest: str, generation: int, token: ApiToken) -> None:
    known = _KnownToken(token.id, _detached_copy(token.user), token.last_used_at, token.last_used_ip or "")
    identities.put(state.ns, "token:" + digest, generation, known)
    _share_token(state, digest, generation, known)


def _share_token(state: shared_state.SharedState, digest: str, generation: int, known: _KnownToken) -> None:
    user = known.user
    payload = {
        "generation": generation,
        "token_id": known.token_id,
        "last_used_at": _plain(known.last_used_at),
        "last_used_ip": known.last_used_ip,
        "user": _columns(user),
        "agent": _columns(user.agent) if user.agent is not None else None,
    }
    state.keep_identity("token:" + digest, json.dumps(payload, separators=(",", ":")), IDENTITY_SHARED_SECONDS)


def _shared_token(state: shared_state.SharedState, digest: str, generation: int) -> _KnownToken | None:
    """The identity another worker or node read for this token, if read under `generation`."""
    raw = state.shared_identity("token:" + digest)
    if raw is None:
        return None
    try:
        payload = json.loads(raw)
        if payload["generation"] != generation:
            return None
        agent = loaded_copy(Agent, _from_columns(Agent, payload["agent"])) if payload["agent"] is not None else None
        user = loaded_copy(User, {**_from_columns(User, payload["user"]), "agent": agent})
        last_used = payload["last_used_at"]
        return _KnownToken(
            payload["token_id"],
            user,
            datetime.fromisoformat(last_used) if last_used else None,
            payload["last_used_ip"],
        )
    except (ValueError, KeyError, TypeError):  # written by another version: read the database
        return None


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _columns(obj: User | Agent) -> dict[str, Any]:
    return {c.key: _plain(getattr(obj, c.key)) for c in obj.__mapper__.column_attrs if c.key not in _UNSHARED_COLUMNS}


def _from_columns(cls: type[User] | type[Agent], values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key, kind in _temporal_columns(cls):
        if out.get(key) is not None:
            out[key] = datetime.fromisoformat(out[key]) if kind is datetime else date.fromisoformat(out[key])
    return out


@functools.cache
def _temporal_columns(cls: type[User] | type[Agent]) -> tuple[tuple[str, type], ...]:
    found = []
    for attr in cls.__mapper__.column_attrs:
        column_type = attr.columns[0].type
        python_type = column_type.impl.python_type if hasattr(column_type, "impl") else column_type.python_type
        if python_type in (datetime, date):
            found.append((attr.key, python_type))
    return tuple(found)


_USES_WRITTEN = "kb_token_uses_written"
USE_FLUSH_SECONDS = 5.0  # a recorded use waits at most this long (or for the next request after it)
USE_FLUSH_SIZE = 500


class PendingUses:
    """Token uses to write as `last_used_at`: one UPDATE for many tokens, sent by the first
    request after USE_FLUSH_SECONDS (or USE_FLUSH_SIZE uses), in that request's transaction.
    A worker that dies loses at most those seconds of last-use times, never an audit row."""

    def __init__(self) -> None:
        self._pending: dict[str, dict[int, tuple[datetime, str]]] = {}
        self._oldest: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, ns: str, token_id: int, at: datetime, ip: str) -> None:
        with self._lock:
            self._pending.setdefault(ns, {})[token_id] = (at, ip)
            self._oldest.setdefault(ns, time.monotonic())

    def flush_if_due(self, session: Session, ns: str) -> int:
        oldest = self._oldest.get(ns)
        if oldest is None:
            return 0
        if time.monotonic() - oldest < USE_FLUSH_SECONDS and len(self._pending.get(ns, ())) < USE_FLUSH_SIZE:
            return 0
        return self.flush(session, ns)

    def flush(self, session: Session, ns: str) -> int:
        with self._lock:
            batch = self._pending.pop(ns, {})
            self._oldest.pop(ns, None)
        if not batch:
            return 0
        table = ApiToken.__table__
        # In token order, as every worker's batch: two batches sharing tokens then wait for each
        # other rather than deadlock. In a savepoint: a batch that still meets a lock conflict
        # (a deadlock with a first use written elsewhere, a lock timeout) is kept for the next
        # flush, and the request it rode on goes on as if nothing was due.
        rows = [{"token_id": token_id, "at": at, "ip": ip} for token_id, (at, ip) in sorted(batch.items())]
        try:
            with session.begin_nested():
                session.execute(
                    update(table)
                    .where(table.c.id == bindparam("token_id"))
                    .values(last_used_at=bindparam("at"), last_used_ip=bindparam("ip")),
                    rows,
                )
        except OperationalError as error:
            if error.connection_invalidated:  # the database went away: the request fails as it would
                raise
            log.warning("token last-use times not written this time (%s); kept for the next batch", error.orig)
            self._keep(ns, batch)
            return 0
        session.info[_USES_WRITTEN] = True
        return len(batch)

    def _keep(self, ns: str, batch: dict[int, tuple[datetime, str]]) -> None:
        with self._lock:
            pending = self._pending.setdefault(ns, {})
            for token_id, use in batch.items():
                pending.setdefault(token_id, use)  # a use recorded meanwhile is the newer one
            self._oldest.setdefault(ns, time.monotonic())


uses = PendingUses()


def _use_due(last_used: datetime | None, last_ip: str, ip: str, now: datetime) -> bool:
    if last_used is None or last_ip != ip[:64]:
        return True
    if last_used.tzinfo is None:
        last_used = last_used.replace(tzinfo=now.tzinfo)
    return last_used <= now - TOKEN_USE_RESOLUTION


# Columns that change with use, not with who someone is or what they may do.
_USE_COLUMNS = {ApiToken: {"last_used_at", "last_used_ip"}, User: {"last_login_at"}, Agent: set()}


@event.listens_for(Session, "before_flush")
def _moves_auth_generation(session: Session, _context: object, _instances: object) -> None:
    """A user, agent or token was added, changed (not merely used) or deleted: cached identities
    are stale once this commits, in every process (an address may come back as another user)."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        watched = _USE_COLUMNS.get(type(obj))
        if watched is None:
            continue
        state = sa_inspect(obj)
        if (
            obj in session.new
            or obj in session.deleted
            or any(attr.key not in watched and attr.history.has_changes() for attr in state.attrs)
        ):
            shared = shared_state.for_session(session)
            shared_state.after_commit(session, shared.new_auth_generation)
            return


# --- closing the loop (gaps, actions, feedback triage) ----------------------------------------

GAP_VIEW_ROLES = ("trainer", "admin", "lead")  # the lead reads gaps and actions; only trainers and admins triage
TRIAGE_ROLES = ("trainer", "admin")


def can_view_gaps(user: User) -> bool:
    """Who reads the gaps, the action plans and their outcomes (every vendor, Tier 2 names)."""
    return user.role in GAP_VIEW_ROLES


def can_triage(user: User) -> bool:
    """Who answers, dismisses or accepts feedback flags and opens and moves actions."""
    return user.role in TRIAGE_ROLES


def feedback_vendor_scope(user: User) -> str | None:
    """The only vendor whose feedback flags the user may read, or None for every vendor.

    Raises PermissionError for users who read no one's flags but their own (agents)."""
    if user.role == "partner_manager":
        return user.vendor
    if can_view_gaps(user) or can_triage(user):
        return None
    raise PermissionError("feedback flags are for partner managers, trainers and admins")
