"""The weekly digest (kb_app.services.digest, `kb digest send`) against a real SMTP server."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fixtures.crisis import T2_BULLETIN_TITLE, build_floor
from fixtures.smtp import free_port
from kb_app.config import Settings
from kb_app.db import session_factory
from kb_app.models import AuditEvent
from kb_app.models.digest import DigestLog
from kb_app.quizzes.library import load_directory
from kb_app.services import digest


@pytest.fixture
def floor(engine, settings, sop_dir, make_user):
    floor = build_floor(engine, settings, sop_dir, make_user)
    make_user(
        "agent", vendor="apex-cx", site="<script>alert(1)</script>", start_date=(floor.now - timedelta(days=60)).date()
    )
    floor.lead = make_user("lead", name="LOB lead", email="lead@example.com")
    floor.managers = {
        vendor: make_user("partner_manager", vendor=vendor, email=f"pm@{vendor}.example", name=f"PM {vendor}")
        for vendor in ("northwind-bpo", "apex-cx")
    }
    make_user("trainer", email="trainer@example.com")  # trainers get no digest
    return floor


def settings_for(port: int) -> Settings:
    return Settings.from_env(
        smtp_host="127.0.0.1", smtp_port=port, mail_from="kb@example.com", base_url="https://kb.example"
    )


def run(engine, settings, port, now):
    with session_factory(engine)() as session:
        planned = digest.plan_digests(session, now=now, banks=load_directory(settings.quiz_dir))
        return digest.send_digests(session, planned, settings_for(port), now=now)


def parts(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_the_lead_gets_every_vendor_and_each_manager_their_own(engine, settings, floor, smtp):
    inbox, port = smtp
    assert run(engine, settings, port, floor.now) == 3
    assert sorted(m["To"] for m in inbox.messages) == [
        "lead@example.com",
        "pm@apex-cx.example",
        "pm@northwind-bpo.example",
    ]
    [lead] = inbox.to("lead@example.com")
    text, html = parts(lead)
    assert "2 of 7 active agents ready" in lead["Subject"]
    for vendor in ("northwind-bpo", "apex-cx", "in-house"):
        assert vendor in text
    assert "Bulletin BUL-WAVE v1.0: 3 of 6 acknowledged" in text and T2_BULLETIN_TITLE not in text  # ids, not titles
    assert "Bulletin BUL-T2-FREEZE" in text  # the lead reads Tier 2 material
    assert "Readiness: https://kb.example/readiness" in text and "Coverage: https://kb.example/coverage" in text
    assert '<a href="https://kb.example/readiness">Readiness</a>' in html

    [apex] = inbox.to("pm@apex-cx.example")
    text, html = parts(apex)
    assert "(apex-cx)" in apex["Subject"] and "1 of 3 active agents ready" in apex["Subject"]
    for other in ("northwind-bpo", "in-house", "BUL-T2-FREEZE", T2_BULLETIN_TITLE, "cert-t2"):
        assert other not in text and other not in html
    # A site name from the roster is text in the HTML part, never markup.
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text carries it as typed


def test_never_twice_in_a_week_per_recipient(engine, settings, floor, smtp, make_user):
    inbox, port = smtp
    assert run(engine, settings, port, floor.now) == 3
    assert run(engine, settings, port, floor.now + timedelta(minutes=5)) == 0
    make_user("partner_manager", vendor="apex-cx", email="pm2@apex-cx.example")
    assert run(engine, settings, port, floor.now + timedelta(minutes=10)) == 1  # only the new manager
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(DigestLog)) == 4
        audited = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "digest.send"))
        assert audited == 4
    assert len(inbox.messages) == 4
    next_week = floor.now + timedelta(days=7)
    assert run(engine, settings, port, next_week) == 4


def test_an_unreachable_server_records_nothing(engine, settings, floor):
    with pytest.raises(OSError):
        run(engine, settings, free_port(), floor.now)
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(DigestLog)) == 0


def test_sections_come_from_providers_and_a_provider_may_say_nothing(engine, settings, floor):
    def quiet(session, window, vendor):
        return None

    def extra(session, window, vendor):
        return digest.Section("gaps", "New gaps", f"for {vendor or 'all'}", [], "/gaps", "Gaps")

    with session_factory(engine)() as session:
        planned = digest.plan_digests(
            session,
            now=floor.now,
            banks=load_directory(settings.quiz_dir),
            providers=[quiet, extra, digest.coverage_section],
        )
    [lead] = [d for d in planned if d.recipient == "lead@example.com"]
    assert [s.key for s in lead.sections] == ["gaps", "coverage"]
    assert lead.sections[0].summary == "for all"


def test_kb_digest_send_dry_run_then_for_real(runner, engine, settings, floor, smtp):
    inbox, port = smtp
    runner.env.update({"KB_SMTP_HOST": "127.0.0.1", "KB_SMTP_PORT": str(port), "KB_BASE_URL": "https://kb.example"})
    dry = runner.invoke(["digest", "send", "--dry-run", "--quiz-dir", str(settings.quiz_dir), "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert report["dry_run"] and report["sent"] == 0 and len(report["digests"]) == 3
    assert inbox.messages == []
    sent = runner.invoke(["digest", "send", "--quiz-dir", str(settings.quiz_dir)])
    assert sent.exit_code == 0, sent.output
    assert "3 digests sent" in sent.output and len(inbox.messages) == 3
    again = runner.invoke(["digest", "send", "--quiz-dir", str(settings.quiz_dir)])
    assert "0 digests sent" in again.output and len(inbox.messages) == 3


def test_kb_digest_send_says_when_the_server_is_unreachable(runner, settings, floor):
    runner.env.update({"KB_SMTP_HOST": "127.0.0.1", "KB_SMTP_PORT": str(free_port())})
    result = runner.invoke(["digest", "send", "--quiz-dir", str(settings.quiz_dir)])
    assert result.exit_code == 1 and "cannot send mail through 127.0.0.1" in result.output
