"""Migration i14_lead on a database in use: the role check admits `lead` without rebuilding
`users` (which api_tokens and audit rows reference), and a downgrade refuses while leads exist."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from kb_app import db, users
from kb_app.db import session_scope
from kb_app.models import User


def test_upgrade_keeps_users_and_what_references_them(empty_db_url):
    engine = db.engine_for(empty_db_url)
    db.upgrade(engine, "i11_releases")
    with session_scope(engine) as session:
        trainer = users.create_user(session, email="trainer@example.com", role="trainer", password="long-enough-pw")
        users.create_token(session, trainer, "cron")
    db.upgrade(engine)
    with session_scope(engine) as session:
        lead = users.create_user(session, email="lead@example.com", role="lead", actor="test")
        assert lead.role == "lead"
        assert users.user_tokens(session)[0].user.email == "trainer@example.com"
    with pytest.raises(IntegrityError), engine.begin() as connection:  # the check still refuses the unknown
        connection.execute(
            text(
                "INSERT INTO users (email, name, role, session_nonce, active, created_at) VALUES ('x@example.com', '', 'boss', 'n', :yes, :t)"
            ),
            {"yes": True, "t": "2026-12-01 00:00:00"},
        )
    with pytest.raises(RuntimeError, match="the role lead"):
        db.downgrade(engine, "i11_releases")
    with session_scope(engine) as session:
        session.get(User, lead.id).role = "trainer"
    db.downgrade(engine, "i11_releases")
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("UPDATE users SET role = 'lead' WHERE email = 'trainer@example.com'"))
    engine.dispose()
