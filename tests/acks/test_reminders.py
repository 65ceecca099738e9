"""`kb remind` against a real SMTP server started by the test."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb_app.catalog import load_catalog
from kb_app.config import Settings
from kb_app.db import session_factory, session_scope
from kb_app.models import Agent, ReminderLog, User
from kb_app.acks.publishing import publish
from kb_app.acks.reminders import plan_reminders, send_reminders
from tests.fixtures.smtp import free_port

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def published(engine, sop_dir):
    with session_scope(engine) as session:
        for emp, vendor in (("N1", "northwind-bpo"), ("N2", "northwind-bpo"), ("A1", "apex-cx")):
            session.add(
                Agent(
                    employee_id=emp,
                    name=f"Agent <b>{emp}</b>",
                    email=f"{emp.lower()}@example.com",
                    tier="T1",
                    vendor=vendor,
                    site="manila",
                    team="m1",
                    language="en",
                    manager="Lead",
                    start_date=date(2025, 1, 1),
                )
            )
        for vendor in ("northwind-bpo", "apex-cx"):
            session.add(User(email=f"pm@{vendor}.example", role="partner_manager", vendor=vendor, session_nonce="x"))
    sop_dir.write("ATO-RECOVERY")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=NOW, by="test")
    return engine


def settings_for(port: int) -> Settings:
    return Settings.from_env(smtp_host="127.0.0.1", smtp_port=port, mail_from="kb@example.com")


def run(engine, port, now):
    with session_factory(engine)() as session:
        reminders = plan_reminders(session, now=now, base_url="https://kb.example")
        return send_reminders(session, reminders, settings_for(port), now=now)


def test_nothing_is_sent_while_items_are_far_from_due(published, smtp):
    inbox, port = smtp
    assert run(published, port, NOW + timedelta(days=1)) == 0
    assert inbox.messages == []


def test_due_soon_reminders_go_to_each_agent_once(published, smtp):
    inbox, port = smtp
    day_before = NOW + timedelta(days=6, hours=12)
    assert run(published, port, day_before) == 3
    assert sorted(m["To"] for m in inbox.messages) == ["a1@example.com", "n1@example.com", "n2@example.com"]
    body = inbox.messages[0].get_content()
    assert "ATO-RECOVERY v1.0" in body and "https://kb.example/reading-list" in body
    assert run(published, port, day_before + timedelta(hours=1)) == 0  # same reminder, same window
    assert len(inbox.messages) == 3


def test_overdue_sends_agents_and_a_digest_per_vendor(published, smtp):
    inbox, port = smtp
    run(published, port, NOW + timedelta(days=8))
    digests = {m["To"]: m.get_content() for m in inbox.messages if m["To"].startswith("pm@")}
    assert set(digests) == {"pm@northwind-bpo.example", "pm@apex-cx.example"}
    assert "N1" in digests["pm@northwind-bpo.example"] and "A1" not in digests["pm@northwind-bpo.example"]
    assert "N1" not in digests["pm@apex-cx.example"]
    overdue_subjects = [m["Subject"] for m in inbox.messages if m["To"] == "n1@example.com"]
    assert overdue_subjects == ["Action required: 1 SOP update to acknowledge (1 overdue)"]


def test_a_due_soon_reminder_does_not_block_the_overdue_one(published, smtp):
    inbox, port = smtp
    run(published, port, NOW + timedelta(days=6, hours=12))
    run(published, port, NOW + timedelta(days=7, hours=1))
    assert [m["To"] for m in inbox.messages].count("n1@example.com") == 2


def test_unreachable_server_logs_nothing(published):
    with pytest.raises(OSError):
        run(published, free_port(), NOW + timedelta(days=8))
    with session_scope(published) as session:
        assert session.scalar(select(func.count()).select_from(ReminderLog)) == 0


def test_kb_remind_sends_over_smtp_and_names_a_server_that_is_down(published, runner, smtp):
    inbox, port = smtp
    runner.env.update({"KB_SMTP_HOST": "127.0.0.1", "KB_SMTP_PORT": str(free_port()), "KB_MAIL_FROM": "kb@example.com"})
    down = runner.invoke(["remind"])
    assert down.exit_code == 1 and "cannot send mail through 127.0.0.1" in down.output
    with session_scope(published) as session:
        assert session.scalar(select(func.count()).select_from(ReminderLog)) == 0
    runner.env["KB_SMTP_PORT"] = str(port)
    dry = runner.invoke(["remind", "--dry-run", "--json"])
    report = json.loads(dry.stdout)
    assert dry.exit_code == 0 and report["dry_run"] and report["sent"] == 0 and report["reminders"]
    assert inbox.messages == []
    sent = runner.invoke(["remind"])
    assert sent.exit_code == 0, sent.output
    assert f"{len(report['reminders'])} reminders sent" in sent.output
    assert len(inbox.messages) == len(report["reminders"])
    assert "0 reminders sent" in runner.invoke(["remind"]).output  # not twice within the window
