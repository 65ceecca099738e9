"""Database engines, sessions and migrations for SQLite and PostgreSQL.

SQLite connections get foreign keys, WAL journaling and a busy timeout; the schema itself is
only ever changed by the Alembic migrations in `kb_app/migrations`.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

_Mapped = TypeVar("_Mapped")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def engine_for(url: str, **kwargs) -> Engine:
    """An engine for `url`. For a SQLite file, its folder is created when missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "savepoint", _sqlite_savepoint_inside_a_transaction)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def pool_options(settings) -> dict:
    """Connection pool per worker process for PostgreSQL (SQLite keeps SQLAlchemy's default).

    Each worker holds up to `pool_size + max_overflow` connections: keep
    nodes x workers x that below PostgreSQL's max_connections (README, Production).

    No ping at checkout (a round trip on every request): a connection PostgreSQL dropped fails
    the one request that meets it (503, `web.errors`), and SQLAlchemy then invalidates every
    connection of the pool opened before, so each worker reconnects at its next checkout.
    """
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        return {}
    return {"pool_size": 5, "max_overflow": 5, "pool_timeout": 5, "pool_recycle": 1800, "pool_pre_ping": False}


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()
    dbapi_connection.create_aggregate("kb_median", 1, _Median)


class _Median:
    """SQLite has no median: `kb_median(x)`, what `percentile_cont(0.5)` is on PostgreSQL
    (NULLs ignored; the mean of the two middle values for an even count; NULL for none)."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        values = sorted(self.values)
        n = len(values)
        if not n:
            return None
        middle = n // 2
        return float(values[middle]) if n % 2 else (values[middle - 1] + values[middle]) / 2.0


def _sqlite_savepoint_inside_a_transaction(connection, _name) -> None:
    """pysqlite opens a transaction only before the first INSERT/UPDATE/DELETE. A SAVEPOINT
    after reads alone is therefore the outermost transaction, and its RELEASE commits: a nested
    write (an acknowledgement) would be durable before the rest of its unit of work (the
    assignment it covers), and a crash in between leaves half of it. Open the real transaction
    first, so the savepoint nests and everything commits together at COMMIT."""
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def dialect_insert(session: Session, model):
    """`INSERT` for `model` with the session's dialect's `ON CONFLICT` clauses (SQLite and
    PostgreSQL spell them alike, and SQLAlchemy has one construct per dialect)."""
    from sqlalchemy.dialects import postgresql, sqlite

    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(model)


def session_factory(bind: Engine | Connection) -> sessionmaker[Session]:
    """Sessions on `bind`. On a Connection already inside a transaction (as the tests hand over),
    each session works in a SAVEPOINT: its commit releases it, its rollback returns to it."""
    return sessionmaker(bind, expire_on_commit=False, join_transaction_mode="create_savepoint")


@contextmanager
def session_scope(bind: Engine | Connection) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls back if it raises."""
    with session_factory(bind)() as session, session.begin():
        yield session


def alembic_config(url: str | None = None, engine: Engine | None = None):
    """An Alembic config built in code, so migrations work from an installed package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser treats % as interpolation; passwords in URLs may contain it.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine=engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine=engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def ping(engine: Engine) -> None:
    """Raises if the database cannot answer a trivial query. One round trip: outside a transaction
    (autocommit), so there is no BEGIN before it and no ROLLBACK when the connection goes back."""
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("SELECT 1"))


def loaded_copy(cls: type[_Mapped], values: dict[str, Any]) -> _Mapped:
    """An instance of the mapped class `cls` holding `values` (columns, and a linked row or None
    for a relationship) as if a query had just loaded it, in no session: `session.merge(copy,
    load=False)` then gives a session its own instance without a query.

    The values go straight into the instance's dictionary, as SQLAlchemy's own loading puts them,
    rather than through the constructor and an attribute event each (hot paths build these: an
    agent's identity in each worker, a published text once per process)."""
    obj = sa_inspect(cls).class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    return obj
