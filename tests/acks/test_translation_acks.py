"""Acknowledgement in the language read, on a real database (SQLite and PostgreSQL): the record
keeps the language and the hash of that text, a stale translation cannot satisfy the new major,
and coverage by language shows who is blocked and how long each translation lagged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kb_app.acks.acknowledge import AckError, acknowledge, what_changed
from kb_app.acks.publishing import publish
from kb_app.acks.translations import coverage_by_language
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Acknowledgement, Agent, Assignment
from kb_app.models.translations import PublishedTranslation
from tests.catalog.test_translations import T2_BODY, T2_TRANSLATED

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
V2 = [
    {"version": "2.0", "date": "2026-11-03", "summary": "Two strong signals are now required, not one."},
    {"version": "1.0", "date": "2026-01-01", "summary": "First version."},
]


@pytest.fixture
def agents(engine):
    with session_scope(engine) as session:
        for emp, language in (("ES1", "es"), ("ES2", "es"), ("TL1", "tl"), ("EN1", "en")):
            session.add(
                Agent(
                    employee_id=emp,
                    name=emp,
                    email=f"{emp.lower()}@apex.example",
                    tier="T1",
                    vendor="apex-cx",
                    site="bogota",
                    team="AP 1",
                    language=language,
                    manager="TL",
                    start_date=datetime(2025, 1, 1).date(),
                    active=True,
                )
            )


def _agent(session, emp: str) -> Agent:
    return session.scalars(select(Agent).where(Agent.employee_id == emp)).one()


def _publish(session, sop_dir, now):
    publish(session, load_catalog(sop_dir.root), now=now, by="test")
    session.commit()


def test_spanish_agent_reads_and_acknowledges_the_spanish_text(session, agents, sop_dir):
    sop_dir.write("ATO-RECOVERY", body=T2_BODY)
    sop_dir.translate("ATO-RECOVERY", "es", T2_TRANSLATED, title="Recuperación")
    _publish(session, sop_dir, NOW)
    assert session.scalar(select(PublishedTranslation.language)) == "es"
    agent = _agent(session, "ES1")
    change = what_changed(session, agent, "ATO-RECOVERY")
    assert change.language == "es" and "Proteja la cuenta." in change.text and "Solo Tier 2" not in change.text
    result = acknowledge(session, agent, "ATO-RECOVERY", change.content_hash, now=NOW, language="es")
    ack = result.acknowledgement
    assert (ack.language, ack.content_hash) == ("es", change.content_hash)
    assert ack.translation_id == session.scalar(select(PublishedTranslation.id))
    assignment = session.scalars(select(Assignment).where(Assignment.agent_id == agent.id)).one()
    assert assignment.acknowledged_at is not None
    # The English text is still acceptable for a Spanish-speaking agent who switched to it.
    english = what_changed(session, _agent(session, "ES2"), "ATO-RECOVERY", "en")
    assert english.language == "en"
    assert acknowledge(session, _agent(session, "ES2"), "ATO-RECOVERY", english.content_hash, now=NOW).created


def test_a_stale_translation_cannot_satisfy_the_new_major(session, agents, sop_dir):
    sop_dir.write("ATO-RECOVERY", body=T2_BODY)
    sop_dir.translate("ATO-RECOVERY", "es", T2_TRANSLATED, title="Recuperación")
    _publish(session, sop_dir, NOW)
    agent = _agent(session, "ES1")
    old_hash = what_changed(session, agent, "ATO-RECOVERY").content_hash
    acknowledge(session, agent, "ATO-RECOVERY", old_hash, now=NOW, language="es")
    session.commit()

    sop_dir.write(
        "ATO-RECOVERY",
        body=T2_BODY.replace("Secure the account.", "Require two strong signals."),
        version="2.0",
        changelog=V2,
    )
    later = NOW + timedelta(days=1)
    _publish(session, sop_dir, later)
    with pytest.raises(AckError) as refused:
        acknowledge(session, agent, "ATO-RECOVERY", old_hash, now=later, language="es")
    assert refused.value.code == "translation_stale"
    change = what_changed(session, agent, "ATO-RECOVERY")
    assert change.language == "en" and change.translation_state.value == "stale"
    assert "Require two strong signals." in change.text and change.stale_translation.source_version == "1.0"
    ack = acknowledge(session, agent, "ATO-RECOVERY", change.content_hash, now=later).acknowledgement
    assert (ack.language, ack.major) == ("en", 2)

    rows = {r.language: r for r in coverage_by_language(session, now=later + timedelta(hours=5))}
    assert rows["es"].translation_state == "stale" and rows["es"].blocked == 1  # ES2 has not acknowledged
    assert rows["es"].waiting_hours == 5.0 and rows["es"].lag_hours is None
    assert rows["tl"].translation_state == "missing" and rows["tl"].blocked == 1
    assert rows["en"].blocked == 0

    sop_dir.translate(
        "ATO-RECOVERY",
        "es",
        T2_TRANSLATED.replace("Proteja la cuenta.", "Exija dos señales fuertes."),
        source_version="2.0",
    )
    _publish(session, sop_dir, later + timedelta(hours=30))
    rows = {r.language: r for r in coverage_by_language(session, now=later + timedelta(hours=31))}
    assert rows["es"].translation_state == "current" and rows["es"].blocked == 0 and rows["es"].lag_hours == 30.0
    change = what_changed(session, _agent(session, "ES2"), "ATO-RECOVERY")
    assert change.language == "es" and "Exija dos señales fuertes." in change.text
    assert session.scalars(select(Acknowledgement.language).order_by(Acknowledgement.id)).all() == ["es", "en"]
