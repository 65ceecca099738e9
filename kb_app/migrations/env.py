"""Alembic environment: runs migrations against the engine `kb_app.db` hands over, or the URL
in the Alembic config (for `alembic -c migrations/alembic.ini revision --autogenerate`)."""

from __future__ import annotations

import os

from alembic import context

from kb_app import models
from kb_app.db import engine_for

config = context.config
target_metadata = models.Base.metadata


def render_item(type_, obj, autogen_context):
    """Write `UTCDateTime` columns as plain `sa.DateTime(timezone=True)` in new revisions, so
    old revisions never import application code that may later change."""
    if type_ == "type" and isinstance(obj, models.base.UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _engine():
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine, False
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("KB_DATABASE_URL", "sqlite:///var/kb.sqlite3")
    return engine_for(url), True


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("KB_DATABASE_URL")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url is not None and url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine, owned = _engine()
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
                render_item=render_item,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
