"""Shared fixtures: a real database at the newest revision for each test (SQLite, and PostgreSQL
when KB_TEST_DATABASE_URL is set), the Flask app and its test client, the `kb` command, a sign-in
helper, and factories for roster agents, users and API tokens.

Typical use:

    def test_something(session, make_agent): ...            # a database, nothing else
    def test_page(client, auth): auth.login_as("trainer")   # the web app, signed in
    def test_command(runner): runner.invoke(["roster", "export"])

    @pytest.mark.fresh_db                                   # a private database (see below)
    def test_race(engine, db_url): ...

Every test that asks for `db_url` (directly or through `engine`, `session`, `app`, `client`,
`runner`, `auth`...) runs once per database backend. On PostgreSQL a test's writes are rolled back
at its end unless it is marked `fresh_db`; see "databases" below."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from kb_app import db as kb_db
from kb_app.config import Settings
from fixtures.fake_sites import T2_ONLY_MARKER, build_fake_sites
from fixtures.redis_state import redis_settings  # noqa: F401 - a fixture
from fixtures.smtp import smtp_server

# `tests/` is on sys.path (the `pythonpath` option in pyproject.toml), so helpers import as `fixtures.*`.
pytest_plugins = ["fixtures.sops", "fixtures.search", "fixtures.contract"]

PG_URL_ENV = "KB_TEST_DATABASE_URL"
DEFAULT_PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """Argon2 with the cheapest parameters: same code path, a fraction of the time."""
    from argon2 import PasswordHasher, profiles

    from kb_app import users

    saved = users._hasher, users._DUMMY_HASH
    users._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    users._DUMMY_HASH = users._hasher.hash("dummy")
    yield
    users._hasher, users._DUMMY_HASH = saved


@pytest.fixture(autouse=True)
def _fresh_release_memory():
    """Each test's database is new, and on PostgreSQL (a rolled-back transaction) can have the
    release stamp of the test before: the process-wide release views must not carry over."""
    from kb_app.services import acknowledging

    acknowledging.forget_releases()
    yield


# --- databases -----------------------------------------------------------------------------
#
# SQLite: each test gets a copy of a migrated template file (a copy costs ~2 ms, about what a
# rolled-back connection would save).
#
# PostgreSQL: each worker copies the migrated template once into its own database; a test works
# on one connection inside a transaction that is rolled back when it ends, and every session it
# opens (its own, the factories', the web app's) joins that transaction through a SAVEPOINT, so a
# commit releases a savepoint and nothing reaches the database. The URL of that shared database
# is read-only, so anything that connects on its own (the app's health check) can read it and a
# stray write fails loudly instead of leaking into the next test.
#
# Tests marked `fresh_db` get a private database instead, copied from the template: migration
# tests, races between threads or processes, servers, and commands that open the database by URL
# (`runner`, `empty_db_url` and `live_server` mark their tests so automatically).

FRESH_DB_FIXTURES = {"runner", "empty_db_url", "live_server"}


def pytest_collection_modifyitems(items):
    for item in items:
        if FRESH_DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.fresh_db)


def _fresh_db(request) -> bool:
    return request.node.get_closest_marker("fresh_db") is not None


def _migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.sqlite3"
    engine = kb_db.engine_for(f"sqlite:///{path}")
    kb_db.upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file per test worker; each test gets a copy."""
    return _migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


class PostgresServer:
    """Creates and drops scratch databases on the server named by KB_TEST_DATABASE_URL.

    Names are random, so parallel workers and other people's test runs never collide.
    """

    def __init__(self, url: str):
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def url_for(self, name: str, *, read_only: bool = False) -> str:
        # Scratch data: commits need not wait for the disk.
        options = "-c synchronous_commit=off"
        if read_only:
            options += " -c default_transaction_read_only=on"
        url = self.url.set(database=name).update_query_dict({"options": options})
        return url.render_as_string(hide_password=False)

    def create(self, prefix: str, template: str | None = None) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def _postgres():
    """(server, migrated template database name) per test worker, or a skip/fail."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get("KB_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"KB_REQUIRE_POSTGRES=1 but {PG_URL_ENV} is not set", pytrace=False)
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV}")
    server = PostgresServer(url)
    template = server.create("kb_tpl")
    try:
        engine = kb_db.engine_for(server.url_for(template))
        kb_db.upgrade(engine)
        engine.dispose()
        yield server, template
    finally:
        server.drop(template)
        server.admin.dispose()


@dataclass
class SharedDatabase:
    """A worker's PostgreSQL database: `engine` writes (inside rolled-back transactions), `url` only reads."""

    engine: Engine
    url: str


@pytest.fixture(scope="session")
def _postgres_shared(_postgres) -> SharedDatabase:
    """This worker's database, copied once from the template, for the tests not marked fresh_db."""
    server, template = _postgres
    name = server.create("kb_w", template=template)
    engine = kb_db.engine_for(server.url_for(name))
    try:
        yield SharedDatabase(engine=engine, url=server.url_for(name, read_only=True))
    finally:
        engine.dispose()
        server.drop(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    """The database backend of this test run: `sqlite` or `postgresql`."""
    return request.param


def _rolled_back(request, db_backend) -> bool:
    """Whether this test shares the worker's database inside a rolled-back transaction."""
    return db_backend == "postgresql" and not _fresh_db(request)


@pytest.fixture
def db_url(request, db_backend, tmp_path) -> str:
    """URL of the test's database, at the newest schema revision: a private copy of the
    template, or on PostgreSQL (unless marked fresh_db) the worker's database, read-only."""
    if db_backend == "sqlite":
        path = tmp_path / "kb.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    if _rolled_back(request, db_backend):
        yield request.getfixturevalue("_postgres_shared").url
        return
    server, template = request.getfixturevalue("_postgres")
    name = server.create("kb_t", template=template)
    try:
        yield server.url_for(name)
    finally:
        server.drop(name)


@pytest.fixture
def empty_db_url(request, db_backend, tmp_path) -> str:
    """Like `db_url` but with no tables at all (for migration tests); always private."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server, _ = request.getfixturevalue("_postgres")
    name = server.create("kb_e")
    try:
        yield server.url_for(name)
    finally:
        server.drop(name)


@pytest.fixture
def engine(request, db_backend, db_url) -> Engine | Connection:
    """What the test binds sessions to; `kb_db.session_scope(engine)` and
    `kb_db.session_factory(engine)` work with either kind.

    On a private database, an Engine. On the shared PostgreSQL database, one Connection inside a
    transaction that is rolled back at the end; each session on it works in a SAVEPOINT.
    """
    if _rolled_back(request, db_backend):
        connection = request.getfixturevalue("_postgres_shared").engine.connect()
        transaction = connection.begin()
        yield connection
        if transaction.is_active:
            transaction.rollback()
        connection.close()
        return
    engine = kb_db.engine_for(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    """A session on the test database; commit what the test needs others to see."""
    with kb_db.session_factory(engine)() as session:
        yield session
        session.rollback()


# --- factories -----------------------------------------------------------------------------


@pytest.fixture
def make_agent(engine) -> Callable[..., Any]:
    """Create a roster agent; keyword arguments override the defaults. Returns the Agent."""
    from kb_app.models import Agent

    numbers = itertools.count(1)

    def make(**overrides) -> Agent:
        n = next(numbers)
        values = {
            "employee_id": f"E{n:05d}",
            "name": f"Agent {n}",
            "email": f"agent{n}@northwind-bpo.example",
            "tier": "T1",
            "vendor": "northwind-bpo",
            "site": "manila",
            "team": "NW Manila 1",
            "language": "en",
            "manager": "Team Leader",
            "start_date": date(2025, 6, 2),
            "active": True,
        }
        values.update(overrides)
        with kb_db.session_scope(engine) as s:
            agent = Agent(**values)
            s.add(agent)
        return agent

    return make


@pytest.fixture
def make_user(engine, make_agent) -> Callable[..., Any]:
    """Create a user with password DEFAULT_PASSWORD. An agent gets a new roster entry unless
    `employee_id` is given (extra keywords go to that agent); a partner manager gets vendor
    northwind-bpo unless `vendor` is given. Returns the User with its agent loaded."""
    from kb_app import users

    numbers = itertools.count(1)

    def make(role: str = "agent", *, email: str | None = None, password: str = DEFAULT_PASSWORD, **extra):
        n = next(numbers)
        employee_id = extra.pop("employee_id", None)
        # An agent's vendor belongs to its roster entry; only a partner manager has one itself.
        vendor = extra.pop("vendor", "northwind-bpo") if role == "partner_manager" else None
        # An agent's name, too, comes from its roster entry.
        name = "" if role == "agent" else extra.pop("name", "")
        if role == "agent" and employee_id is None:
            employee_id = make_agent(**extra).employee_id
        with kb_db.session_scope(engine) as s:
            user = users.create_user(
                s,
                email=email or f"{role.replace('_', '-')}{n}@example.com",
                role=role,
                name=name,
                vendor=vendor,
                employee_id=employee_id,
                password=password,
                actor="test",
            )
        return user

    return make


@pytest.fixture
def make_token(engine) -> Callable[..., str]:
    """Create an API token for a user; returns the secret for `Authorization: Bearer`."""
    from kb_app import users
    from kb_app.models import User

    def make(user, name: str = "test token") -> str:
        with kb_db.session_scope(engine) as s:
            return users.create_token(s, s.get(User, user.id), name, actor="test").secret

    return make


# --- sites ---------------------------------------------------------------------------------


@pytest.fixture
def fake_sites(tmp_path) -> Path:
    """A site dir with fake T1 and T2 builds; T2_ONLY_MARKER appears only under T2."""
    return build_fake_sites(tmp_path / "site")


# --- the web app and the command -----------------------------------------------------------


@pytest.fixture
def settings(db_url, tmp_path, fake_sites) -> Settings:
    """Settings for one test: its own database, var dir and fake sites; no environment."""
    return Settings(
        root=tmp_path,
        sop_dir=tmp_path / "sop",
        quiz_dir=tmp_path / "quizzes",
        var_dir=tmp_path / "var",
        index_dir=tmp_path / "var" / "index",
        site_dir=fake_sites,
        database_url=db_url,
        secret_key="test-secret-key-not-for-production",
    )


# Tests write bank files and ask for them at once: the app looks at the files on every call.
TEST_CONFIG = {"TESTING": True, "REQUEST_LOG": False, "BANK_RECHECK_SECONDS": 0}


@pytest.fixture
def make_app(settings, engine) -> Callable[..., Any]:
    """Build an app with extra config (e.g. LOGIN_RATE_LIMIT, TRUSTED_HEADER).

    Its request sessions are bound to the test's `engine`, so the app sees what the test wrote
    and its commits are rolled back with the test's; the app's own engine, built from the URL,
    serves only the health check.
    """
    from kb_app.web import create_app

    apps = []

    def make(settings_override: Settings | None = None, **config):
        app_settings = settings_override or settings
        app = create_app(app_settings, test_config={**TEST_CONFIG, **config})
        if app_settings.database_url == settings.database_url:
            app.extensions["kb_sessionmaker"] = kb_db.session_factory(engine)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["kb_engine"].dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


class AuthActions:
    """Sign in and out as the user would, CSRF token and all."""

    def __init__(self, client, make_user):
        self._client = client
        self._make_user = make_user
        self.user = None

    def csrf_token(self) -> str:
        """A valid CSRF token for the client's session (from the sign-in or home page)."""
        response = self._client.get("/login")
        if response.status_code == 302:
            response = self._client.get("/")
        return csrf_token_from(response.get_data(as_text=True))

    def login(self, identifier: str, password: str = DEFAULT_PASSWORD):
        return self._client.post(
            "/login", data={"identifier": identifier, "password": password, "csrf_token": self.csrf_token()}
        )

    def login_as(self, role: str = "agent", **user_fields):
        """Create a user with `role` (see `make_user`) and sign in; returns the user."""
        self.user = self._make_user(role, **user_fields)
        response = self.login(self.user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return self.user

    def logout(self):
        return self._client.post("/logout", data={"csrf_token": self.csrf_token()})


@pytest.fixture
def auth(client, make_user) -> AuthActions:
    return AuthActions(client, make_user)


@pytest.fixture
def make_auth(make_user) -> Callable[[Any], AuthActions]:
    """An AuthActions for another client (e.g. of an app from `make_app`)."""
    return lambda client: AuthActions(client, make_user)


@pytest.fixture
def default_password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def t2_only_marker() -> str:
    return T2_ONLY_MARKER


@pytest.fixture
def csrf_from() -> Callable[[str], str]:
    """Reads the CSRF token out of a page's HTML."""
    return csrf_token_from


@dataclass
class KbRunner:
    """Runs `kb` commands against the test database and directories."""

    env: dict[str, str]

    def invoke(self, args, input: str | bytes | None = None, **kwargs):
        from kb_app.cli import main

        return CliRunner().invoke(main, args, input=input, env=self.env, catch_exceptions=False, **kwargs)


@pytest.fixture
def runner(settings) -> KbRunner:
    return KbRunner(
        env={
            "KB_DATABASE_URL": settings.database_url,
            "KB_VAR_DIR": str(settings.var_dir),
            "KB_SITE_DIR": str(settings.site_dir),
            "KB_INDEX_DIR": str(settings.index_dir),
            "KB_SECRET_KEY": settings.secret_key,
            "KB_TRUSTED_HEADER": "",
        }
    )


@pytest.fixture
def smtp():
    """A real SMTP server on a free loopback port while the test runs: (inbox, port)."""
    with smtp_server() as server:
        yield server
