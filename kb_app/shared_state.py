"""State shared by every worker and node of one deployment: short-lived caches and release notices.

With `KB_REDIS_URL` the state lives in Redis, so an acknowledgement through one worker shows on
another worker's banner at once. Without it, an in-process store stands in: right for `make run`
(one process), wrong for several workers, which is why `kb serve` switches the cache off there.
Redis going away never stops the app: a failed call counts as a cache miss, Redis is left alone
for a moment (`RETRY_SECONDS`), and `status()` says it is down for `/readyz`.

Caches are per database (the namespace is a digest of its URL) and keyed by a *generation* that
a publish or roster import moves on, so those need no key scan. Invalidation runs after the
transaction commits (`after_commit`), never before: a reader cannot cache the old state in between.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import redis

STANDING_SECONDS = 300  # an agent's banner and reading-list state (events end it sooner: see agent_state)
# Part of each kept standing's key: a release that changes what a standing holds bumps it, so a
# node of the new release never reads what one of the old release kept.
STANDING_FORMAT = 2
COVERAGE_SECONDS = 15  # a coverage overview
RETRY_SECONDS = 2.0  # after a Redis failure, leave it alone this long
# The generations are read at most this often per process (one round trip serves every request
# in between); this process's own moves forget them at once, another's show within this time.
GENERATION_MEMO_SECONDS = 0.05
REDIS_TIMEOUT_SECONDS = 0.25


class Backend(Protocol):
    kind: str

    def get(self, key: str) -> str | None: ...
    def mget(self, *keys: str) -> list[str | None] | None: ...
    def set(self, key: str, value: str, ttl: int) -> None: ...
    def set_many(self, items: dict[str, str], ttl: int) -> None: ...
    def delete(self, *keys: str) -> None: ...
    def incr(self, key: str) -> int | None: ...
    def incr_each(self, *keys: str) -> None: ...
    def status(self) -> dict[str, Any]: ...


class LocalBackend:
    """One process's dictionary with expiry times."""

    kind = "local"

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        found = self._data.get(key)
        if found is None:
            return None
        expires, value = found
        if expires and expires < time.monotonic():
            self._data.pop(key, None)
            return None
        return value

    def mget(self, *keys: str) -> list[str | None]:
        return [self.get(key) for key in keys]

    def set(self, key: str, value: str, ttl: int) -> None:
        with self._lock:
            if len(self._data) > 100_000:  # a bound, not a policy: start again rather than grow
                self._data.clear()
            self._data[key] = (time.monotonic() + ttl if ttl else 0.0, value)

    def set_many(self, items: dict[str, str], ttl: int) -> None:
        for key, value in items.items():
            self.set(key, value, ttl)

    def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)

    def incr(self, key: str) -> int:
        with self._lock:
            value = int(self.get(key) or 0) + 1
            self._data[key] = (0.0, str(value))
            return value

    def incr_each(self, *keys: str) -> None:
        for key in keys:
            self.incr(key)

    def status(self) -> dict[str, Any]:
        return {"backend": "local", "ok": True}


class RedisBackend:
    """Redis with short timeouts; any failure is a miss and a pause before the next try."""

    kind = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            decode_responses=True,
            health_check_interval=30,
        )
        self._down_until = 0.0
        self.last_error: str | None = None

    def _call(self, fn: Callable[[], Any]) -> Any:
        if self._down_until > time.monotonic():
            return None
        try:
            result = fn()
        except redis.RedisError as error:
            self._down_until = time.monotonic() + RETRY_SECONDS
            self.last_error = f"{type(error).__name__}: {error}"
            return None
        self.last_error = None
        return result

    def get(self, key: str) -> str | None:
        return self._call(lambda: self.client.get(key))

    def mget(self, *keys: str) -> list[str | None] | None:
        return self._call(lambda: self.client.mget(keys))

    def set(self, key: str, value: str, ttl: int) -> None:
        self._call(lambda: self.client.set(key, value, ex=ttl or None))

    def set_many(self, items: dict[str, str], ttl: int) -> None:
        def write() -> None:
            with self.client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, ex=ttl or None)
                pipe.execute()

        if items:
            self._call(write)

    def delete(self, *keys: str) -> None:
        if keys:
            self._call(lambda: self.client.delete(*keys))

    def incr(self, key: str) -> int | None:
        return self._call(lambda: self.client.incr(key))

    def incr_each(self, *keys: str) -> None:
        """Several counters moved on in one round trip."""

        def write() -> None:
            with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.incr(key)
                pipe.execute()

        if keys:
            self._call(write)

    def pipelined(self, commands: Callable[[Any], None]) -> list[Any] | None:
        """The answers to what `commands(pipeline)` queued, in one round trip (an answer is the
        exception when that command failed); None when Redis failed."""

        def run() -> list[Any]:
            with self.client.pipeline(transaction=False) as pipe:
                commands(pipe)
                # A command's own error (a script Redis no longer holds) comes back in its place,
                # for the caller to judge; only a failed connection counts as Redis failing.
                return pipe.execute(raise_on_error=False)

        return self._call(run)

    def status(self) -> dict[str, Any]:
        """Asks Redis now (for /readyz), whatever the pause says."""
        try:
            self.client.ping()
        except redis.RedisError as error:
            self._down_until = time.monotonic() + RETRY_SECONDS
            self.last_error = f"{type(error).__name__}: {error}"
            return {"backend": "redis", "ok": False, "error": self.last_error}
        self._down_until = 0.0
        return {"backend": "redis", "ok": True}


@functools.lru_cache(maxsize=64)
def namespace_for(database_url: str) -> str:
    rendered = make_url(database_url).render_as_string(hide_password=False)
    return "kb:" + hashlib.sha256(rendered.encode("utf-8")).hexdigest()[:12]


class SharedState:
    """The caches and release notices of one database, on one backend."""

    def __init__(
        self, backend: Backend, namespace: str, *, cache_seconds: int = STANDING_SECONDS, secret: str = ""
    ) -> None:
        self.backend = backend
        self.ns = namespace
        self.cache_seconds = cache_seconds
        # Signs what says who someone is (`keep_identity`): whoever can write to Redis cannot
        # make a node believe a forged identity without the app's secret key as well.
        self._identity_key_bytes = hashlib.sha256(b"kb-identity:" + secret.encode()).digest() if secret else b""
        self._local_generation = 0
        self._local_auth_generation = 0
        self._memo: tuple[float, tuple[str | None, str | None]] | None = None
        # A standing fetched ahead in this thread (`fetch_agent_state`): (its key, [kept, epoch]).
        self._fetched = threading.local()

    # -- generations ---------------------------------------------------------------------------

    def _generations(self) -> tuple[str | None, str | None]:
        """(gen, authgen) as the backend holds them, one round trip per GENERATION_MEMO_SECONDS."""
        memo = self._memo
        now = time.monotonic()
        if memo is not None and memo[0] > now:
            return memo[1]
        values = self.backend.mget(f"{self.ns}:gen", f"{self.ns}:authgen") or [None, None]
        found = (values[0], values[1])
        self._memo = (now + GENERATION_MEMO_SECONDS, found)
        return found

    def generation(self) -> int:
        """Moves on at every publish and roster import; every cached agent state names it."""
        value = self._generations()[0]
        return int(value) if value is not None else self._local_generation

    def auth_generation(self) -> int:
        """Moves on whenever a user, an agent or a token changes, and at every roster import
        (not at a publish): the bearer-token cache (`kb_app.users.TokenCache`) names it."""
        value = self._generations()[1]
        return int(value) if value is not None else self._local_auth_generation

    def new_local_generation(self) -> None:
        """This process noticed a release another process recorded (no Redis to tell it)."""
        self._local_generation += 1
        self._memo = None

    def new_generation(self) -> None:
        self._local_generation += 1
        self._memo = None
        self.backend.incr_each(f"{self.ns}:gen", f"{self.ns}:covgen")

    def new_auth_generation(self) -> None:
        self._local_auth_generation += 1
        self._memo = None
        self.backend.incr(f"{self.ns}:authgen")

    # -- per-agent state -----------------------------------------------------------------------

    def _standing_key(self, agent_id: int) -> str:
        return f"{self.ns}:standing{STANDING_FORMAT}:{self.generation()}:{agent_id}"

    def _epoch_key(self, agent_id: int) -> str:
        return f"{self.ns}:epoch:{agent_id}"

    def agent_state(self, agent_id: int, release_id: Any) -> tuple[dict | None, str]:
        """(the kept standing or None, the agent's epoch to keep a new one under).

        A kept standing counts only under the generation (publish, roster import), the release
        and the agent's epoch it was computed under: an acknowledgement or quiz pass moves the
        epoch on (`forget_agent`), so a standing computed from the rows before that commit, and
        kept after it, is never believed. One round trip.
        """
        if not self.cache_seconds:
            return None, ""
        key = self._standing_key(agent_id)
        fetched = getattr(self._fetched, "value", None)
        if fetched is not None and fetched[0] == key:
            self._fetched.value = None
            raw, epoch = fetched[1]
        else:
            raw, epoch = self.backend.mget(key, self._epoch_key(agent_id)) or (None, None)
        epoch = epoch or "0"
        if not raw:
            return None, epoch
        data = json.loads(raw)
        if data.get("release") != list(release_id) or data.get("epoch") != epoch:
            return None, epoch
        return data, epoch

    def fetch_agent_state(self, agent_id: int, commands: Callable[[Any], None]) -> list[Any] | None:
        """The agent's kept standing and epoch fetched in the same round trip as `commands(pipeline)`
        (a request's rate-limit counts), for this thread's next `agent_state` of that agent under
        this generation to take instead of asking Redis again. Returns the answers to what
        `commands` queued (see `RedisBackend.pipelined`); None, with nothing fetched, when the
        backend is not Redis or Redis failed."""
        self.forget_fetched()
        if not self.cache_seconds or not isinstance(self.backend, RedisBackend):
            return None
        key = self._standing_key(agent_id)
        epoch_key = self._epoch_key(agent_id)

        def queue(pipe: Any) -> None:
            commands(pipe)
            pipe.mget(key, epoch_key)

        results = self.backend.pipelined(queue)
        if results is None:
            return None
        if not isinstance(results[-1], Exception):
            self._fetched.value = (key, results[-1])
        return results[:-1]

    def forget_fetched(self) -> None:
        """Drop what `fetch_agent_state` fetched and nothing took (the end of a request)."""
        self._fetched.value = None

    def agent_epochs(self, agent_ids: list[int]) -> list[str]:
        found = self.backend.mget(*(self._epoch_key(a) for a in agent_ids)) if agent_ids else []
        return [value or "0" for value in (found or [None] * len(agent_ids))]

    def _payload(self, data: dict, release_id: Any, epoch: str) -> str:
        return json.dumps({**data, "release": list(release_id), "epoch": epoch}, separators=(",", ":"))

    def keep_agent_state(self, agent_id: int, release_id: Any, data: dict, epoch: str) -> None:
        if self.cache_seconds:
            self.backend.set(self._standing_key(agent_id), self._payload(data, release_id, epoch), self.cache_seconds)

    def keep_agent_states(self, states: dict[int, tuple[dict, str]], release_id: Any) -> None:
        """Many standings in one round trip (the warm-up after a publish)."""
        if self.cache_seconds:
            items = {
                self._standing_key(agent_id): self._payload(data, release_id, epoch)
                for agent_id, (data, epoch) in states.items()
            }
            self.backend.set_many(items, self.cache_seconds)

    def forget_agent(self, agent_id: int) -> None:
        """An acknowledgement, a quiz submitted or a section re-read changed this agent's state
        (and so coverage)."""
        self.backend.incr_each(self._epoch_key(agent_id), f"{self.ns}:covgen")

    # -- identities, shared by every worker and node ------------------------------------------

    def _identity_key(self, key: str) -> str:
        return f"{self.ns}:identity:{key}"

    def _shares_identities(self) -> bool:
        # In one process the caller's own cache already holds them; unsigned, never.
        return bool(self.cache_seconds and self.backend.kind == "redis" and self._identity_key_bytes)

    def _signature(self, key: str, value: str) -> str:
        message = f"{key}\n{value}".encode()
        return hmac.new(self._identity_key_bytes, message, hashlib.sha256).hexdigest()

    def shared_identity(self, key: str) -> str | None:
        """What `keep_identity` kept for `key` (Redis only), if its signature holds."""
        if not self._shares_identities():
            return None
        raw = self.backend.get(self._identity_key(key))
        if raw is None:
            return None
        signature, _, value = raw.partition(".")
        return value if hmac.compare_digest(signature, self._signature(key, value)) else None

    def keep_identity(self, key: str, value: str, ttl: int) -> None:
        if self._shares_identities():
            signed = f"{self._signature(key, value)}.{value}"
            self.backend.set(self._identity_key(key), signed, min(ttl, self.cache_seconds))

    # -- coverage overview ---------------------------------------------------------------------

    def _coverage_key(self, question: str) -> str:
        generation = self.backend.get(f"{self.ns}:covgen") or "0"
        digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:20]
        return f"{self.ns}:coverage:{generation}:{digest}"

    def coverage(self, question: str) -> Any | None:
        if not self.cache_seconds:
            return None
        raw = self.backend.get(self._coverage_key(question))
        return json.loads(raw) if raw else None

    def keep_coverage(self, question: str, answer: Any) -> None:
        if self.cache_seconds:
            ttl = min(COVERAGE_SECONDS, self.cache_seconds)
            self.backend.set(self._coverage_key(question), json.dumps(answer, default=str), ttl)

    # -- release notices -------------------------------------------------------------------------

    def announce_release(self, release_id: int) -> None:
        self.backend.set(f"{self.ns}:release", str(release_id), 0)

    def announced_release(self) -> int | None:
        value = self.backend.get(f"{self.ns}:release")
        return int(value) if value is not None else None

    def status(self) -> dict[str, Any]:
        return self.backend.status()


# --- one SharedState per database in this process ---------------------------------------------

_states: dict[str, SharedState] = {}
_lock = threading.Lock()


def configure(
    database_url: str, redis_url: str = "", *, cache_seconds: int = STANDING_SECONDS, secret: str = ""
) -> SharedState:
    """Choose the backend for `database_url` in this process (the app and `kb serve` call it).

    `cache_seconds=0` switches the agent-state cache off (release notices still work); `secret`
    (the app's secret key, the same on every node) signs the identities shared through Redis,
    which are not shared without it.
    """
    namespace = namespace_for(database_url)
    if redis_url:
        backend: Backend = RedisBackend(redis_url)
    else:
        backend = LocalBackend()
    with _lock:
        previous = _states.get(namespace)
        state = SharedState(backend, namespace, cache_seconds=cache_seconds, secret=secret)
        if previous is not None:
            state._local_generation = previous._local_generation + 1
        _states[namespace] = state
    return state


def ensure(database_url: str, redis_url: str = "") -> SharedState:
    """Configure once (for `kb` commands that tell running servers about what they changed)."""
    namespace = namespace_for(database_url)
    found = _states.get(namespace)
    if found is not None and (found.backend.kind == "redis" or not redis_url):
        return found
    return configure(database_url, redis_url)


def for_url(database_url: str) -> SharedState:
    namespace = namespace_for(database_url)
    found = _states.get(namespace)
    if found is None:
        with _lock:
            found = _states.setdefault(namespace, SharedState(LocalBackend(), namespace))
    return found


def for_session(session: Session) -> SharedState:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    namespace = _engine_namespaces.get(engine)
    if namespace is None:  # rendering the URL costs more than the rest of this: once per engine
        namespace = _engine_namespaces[engine] = namespace_for(engine.url.render_as_string(hide_password=False))
    found = _states.get(namespace)
    if found is None:
        with _lock:
            found = _states.setdefault(namespace, SharedState(LocalBackend(), namespace))
    return found


_engine_namespaces: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


# --- run after the transaction commits ----------------------------------------------------------

_AFTER_COMMIT = "kb_after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction commits (dropped on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(_AFTER_COMMIT, None)
