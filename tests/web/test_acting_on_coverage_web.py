"""The overdue and coverage pages as trainers and partner managers use them: filters, sorting,
CSV and XLSX exports confined to the vendor, "remind these agents" over a real SMTP server
(CSRF, audited, never twice in the window), coverage worst first with drill-down."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app import shared_state
from kb_app.db import session_factory, session_scope
from kb_app.models import Agent, AuditEvent, ReminderLog
from tests.fixtures.smtp import free_port

PEOPLE = [
    ("N1", "northwind-bpo", "manila", "manila-1", "Lead Reyes", '=HYPERLINK("http://x")'),
    ("N2", "northwind-bpo", "manila", "manila-2", "Lead Cruz", "Nora Two"),
    ("N3", "northwind-bpo", "cebu", "cebu-1", "Lead Cruz", "Nico Three"),
    ("A1", "apex-cx", "bogota", "bogota-1", "Lead Gomez", "Ana One"),
    ("A2", "apex-cx", "bogota", "bogota-1", "Lead Gomez", "Ada Two"),
]


@pytest.fixture
def world(engine, sop_dir):
    """Five agents over two vendors, two SOPs published ten days ago (so everyone is overdue)."""
    with session_scope(engine) as session:
        for emp, vendor, site, team, lead, name in PEOPLE:
            session.add(
                Agent(
                    employee_id=emp,
                    name=name,
                    email=f"{emp.lower()}@{vendor}.example",
                    tier="T1",
                    vendor=vendor,
                    site=site,
                    team=team,
                    language="en",
                    manager=lead,
                    start_date=date(2025, 6, 1),
                )
            )
    sop_dir.write("ATO-RECOVERY")
    sop_dir.write("SIM-SWAP")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=10), by="test")
    return engine


@pytest.fixture
def mail_app(make_app, settings, smtp):
    """The app, sending mail to the test's SMTP server."""
    inbox, port = smtp
    app = make_app(
        settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "mail_from": "kb@t.example"})
    )
    return app, inbox


def rows_of(html: str) -> list[str]:
    """Employee ids in the overdue table, in order."""
    return re.findall(r"\b([NA]\d) · ", html)


def test_overdue_page_is_one_row_per_agent_filterable_and_sortable(client, auth, world):
    auth.login_as("trainer")
    html = client.get("/coverage/overdue").get_data(as_text=True)
    assert sorted(rows_of(html)) == ["A1", "A2", "N1", "N2", "N3"]  # each agent once
    assert "5 agents overdue" in html
    assert html.count("<strong>ATO-RECOVERY</strong>") == 5  # one row per agent, the SOPs in a list
    for name in ("site", "team", "team_leader", "sop", "vendor"):
        assert f'name="{name}"' in html
    assert sorted(rows_of(client.get("/coverage/overdue?site=manila").get_data(as_text=True))) == ["N1", "N2"]
    by_leader = client.get("/coverage/overdue?team_leader=Lead+Cruz&sort=name").get_data(as_text=True)
    assert rows_of(by_leader) == ["N3", "N2"]  # "Nico Three" before "Nora Two"
    by_name_desc = client.get("/coverage/overdue?sort=name&dir=desc").get_data(as_text=True)
    assert rows_of(by_name_desc)[0] == "N2" and 'aria-sort="descending"' in by_name_desc
    assert client.get("/coverage/overdue?sort=email").status_code == 400
    # The phone's sort menu says "-owed" for "owes most first".
    most = client.get("/coverage/overdue?sort=-owed").get_data(as_text=True)
    assert '<option value="-owed" selected>' in most and 'aria-sort="descending"' in most
    sop = client.get("/coverage/overdue?sop=SIM-SWAP&team=bogota-1").get_data(as_text=True)
    assert sorted(rows_of(sop)) == ["A1", "A2"] and "<strong>ATO-RECOVERY</strong>" not in sop


def test_partner_manager_sees_and_exports_their_vendor_only(client, auth, world):
    auth.login_as("partner_manager", vendor="apex-cx")
    html = client.get("/coverage/overdue").get_data(as_text=True)
    assert sorted(rows_of(html)) == ["A1", "A2"] and "northwind" not in html and "Lead Cruz" not in html
    assert 'id="f-vendor"' not in html
    assert client.get("/coverage/overdue?vendor=northwind-bpo").status_code == 403
    assert client.get("/coverage/overdue.csv?vendor=northwind-bpo").status_code == 403

    exported = client.get("/coverage/overdue.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert 'filename="overdue-apex-cx-' in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert sorted(r["employee_id"] for r in rows) == ["A1", "A2"]
    assert rows[0]["sops"] == "ATO-RECOVERY v1.0; SIM-SWAP v1.0" and rows[0]["owed"] == "2"

    workbook = load_workbook(io.BytesIO(client.get("/coverage/overdue.xlsx").get_data()))
    sheet = workbook["Overdue agents"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:3] == ["employee_id", "name", "email"]
    assert sorted(row[0] for row in values[1:]) == ["A1", "A2"]
    assert not any("northwind" in str(cell) for row in values for cell in row)


def test_exports_cannot_run_formulas(client, auth, world):
    auth.login_as("trainer")
    rows = list(csv.DictReader(io.StringIO(client.get("/coverage/overdue.csv?site=manila").get_data(as_text=True))))
    n1 = next(r for r in rows if r["employee_id"] == "N1")
    assert n1["name"].startswith("'=")
    sheet = load_workbook(io.BytesIO(client.get("/coverage/overdue.xlsx?site=manila").get_data())).active
    names = [row[1].value for row in sheet.iter_rows(min_row=2)]
    assert any(str(n).startswith("'=") for n in names)
    with session_scope(world) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "overdue.export")).all()
    assert len(events) == 2


def test_remind_these_agents_sends_now_once_and_is_audited(mail_app, make_auth, world):
    app, inbox = mail_app
    client = app.test_client()
    user = make_auth(client).login_as("partner_manager", vendor="apex-cx")
    page = client.get("/coverage/overdue?team=bogota-1").get_data(as_text=True)
    assert "Remind these 2 agents now" in page
    form = re.search(r'<form method="post" action="/coverage/overdue/remind".*?</form>', page, re.S).group(0)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert 'name="team" value="bogota-1"' in form

    assert client.post("/coverage/overdue/remind", data={"team": "bogota-1"}).status_code == 400  # no CSRF
    assert inbox.messages == []

    done = client.post("/coverage/overdue/remind", data={"csrf_token": token, "team": "bogota-1"})
    assert done.status_code == 302 and "team=bogota-1" in done.headers["Location"]
    assert sorted(m["To"] for m in inbox.messages) == ["a1@apex-cx.example", "a2@apex-cx.example"]
    assert "ATO-RECOVERY v1.0" in inbox.messages[0].get_content()
    flashed = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Sent 2 reminders now." in flashed

    again = client.post("/coverage/overdue/remind", data={"csrf_token": token, "team": "bogota-1"})
    assert len(inbox.messages) == 2
    flashed = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "Sent 0 reminders now, skipped 2 (2 already reminded in the last 24 hours)." in flashed

    # Another vendor in the form is refused; nothing reaches northwind's agents.
    assert (
        client.post("/coverage/overdue/remind", data={"csrf_token": token, "vendor": "northwind-bpo"}).status_code
        == 403
    )
    assert not any("northwind" in m["To"] for m in inbox.messages)
    with session_scope(world) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "reminders.send")).all()
        logged = session.scalars(select(ReminderLog.recipient)).all()
    assert [(e.actor, e.details["sent"], e.details["agents"]) for e in events] == [
        (user.email, 2, 2),
        (user.email, 0, 2),
    ]
    assert events[1].details["skipped"] == {"already reminded in the last 24 hours": 2}
    assert events[0].details["filter"] == {"team": "bogota-1", "vendor": "apex-cx"}
    assert sorted(logged) == ["a1@apex-cx.example", "a1@apex-cx.example", "a2@apex-cx.example", "a2@apex-cx.example"]


def test_remind_reports_an_unreachable_mail_server(make_app, settings, make_auth, world):
    app = make_app(settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": free_port()}))
    client = app.test_client()
    make_auth(client).login_as("trainer")
    page = client.get("/coverage/overdue").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/coverage/overdue/remind", data={"csrf_token": token, "site": "cebu"})
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sent 0 reminders now." in html and "did not take them" in html
    with session_scope(world) as session:
        assert session.scalars(select(ReminderLog)).all() == []
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "reminders.send")).all()
    assert event.details["sent"] == 0 and "error" in event.details


def test_coverage_is_worst_first_sortable_and_drills_down(client, auth, world, engine):
    # Everyone at manila acknowledges nothing; both apex agents are also overdue; make cebu the best.
    from kb_app.acks.acknowledge import acknowledge, what_changed

    with session_scope(engine) as session:
        n3 = session.scalars(select(Agent).where(Agent.employee_id == "N3")).one()
        for sop_id in ("ATO-RECOVERY", "SIM-SWAP"):
            acknowledge(
                session, n3, sop_id, what_changed(session, n3, sop_id).content_hash, now=datetime.now(timezone.utc)
            )
    auth.login_as("trainer")
    html = client.get("/coverage?by=site").get_data(as_text=True)
    table = html[html.index('class="coverage-table"') :]
    order = re.findall(r'data-label="Site"><a href="[^"]+"[^>]*>(\w+)</a>', table)
    assert order[-1] == "cebu" and set(order) == {"bogota", "cebu", "manila"}  # worst first: cebu (100 %) last
    by_site = client.get("/coverage?by=site&sort=site&dir=desc").get_data(as_text=True)
    assert re.findall(r'data-label="Site"><a href="[^"]+"[^>]*>(\w+)</a>', by_site) == ["manila", "cebu", "bogota"]
    assert client.get("/coverage?by=site&sort=nope").status_code == 400
    most = client.get("/coverage?by=site&sort=-overdue").get_data(as_text=True)  # the phone's sort menu
    assert '<option value="-overdue" selected>' in most

    # vendor -> site -> team -> agents
    vendors = client.get("/coverage?by=vendor").get_data(as_text=True)
    link = re.search(r'href="(/coverage\?[^"]*vendor=northwind-bpo[^"]*)"', vendors).group(1).replace("&amp;", "&")
    assert "by=site" in link
    sites = client.get(link).get_data(as_text=True)
    link = re.search(r'href="(/coverage\?[^"]*site=manila[^"]*)"', sites).group(1).replace("&amp;", "&")
    assert "by=team" in link and "vendor=northwind-bpo" in link
    teams = client.get(link).get_data(as_text=True)
    assert "manila-1" in teams and "bogota-1" not in teams
    link = re.search(r'href="(/coverage/overdue\?[^"]*team=manila-1[^"]*)"', teams).group(1).replace("&amp;", "&")
    agents = client.get(link).get_data(as_text=True)
    assert rows_of(agents) == ["N1"]


def test_awaiting_quiz_has_its_own_legend_and_pattern(client, auth, world):
    auth.login_as("trainer")
    html = client.get("/coverage").get_data(as_text=True)
    assert 'class="l-awaiting">Acknowledged, awaiting quiz<' in html
    assert 'class="cov-awaiting"' in html and 'id="kb-awaiting-stripes"' in html


def statements_for(client, app, path: str) -> int:
    """SQL statements one request sends (transaction control excluded)."""
    engine = app.extensions["kb_sessionmaker"].kw["bind"]
    seen: list[str] = []

    def collect(_conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            seen.append(statement)

    with session_factory(engine)() as session:  # a cold answer: the coverage cache keeps one per minute
        shared_state.for_session(session).new_generation()
    event.listen(engine, "before_cursor_execute", collect)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", collect)
    assert response.status_code == 200, response.status_code
    return len(seen)


PATHS = ("/coverage/overdue", "/coverage/overdue?site=manila&sort=owed", "/coverage/overdue.csv", "/coverage?by=site")


def test_the_overdue_and_coverage_pages_send_a_constant_number_of_statements(app, client, auth, world, engine, sop_dir):
    auth.login_as("trainer")
    for path in PATHS:  # warm: the first request of a session loads the user and settings
        client.get(path)
    before = {path: statements_for(client, app, path) for path in PATHS}
    with session_scope(engine) as session:
        for n in range(30):
            session.add(
                Agent(
                    employee_id=f"X{n}",
                    name=f"Extra {n}",
                    email=f"x{n}@northwind-bpo.example",
                    tier="T1",
                    vendor="northwind-bpo",
                    site="manila",
                    team=f"manila-{n % 4}",
                    language="en",
                    manager=f"Lead {n % 3}",
                    start_date=date(2025, 6, 1),
                )
            )
    for n in range(4):
        sop_dir.write(f"EXTRA-{n}")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=9), by="test")
    client.get(PATHS[0])  # new agents: the signed-in user is read again once (users.identities)
    after = {path: statements_for(client, app, path) for path in PATHS}
    assert "X1 · " in client.get("/coverage/overdue").get_data(as_text=True)
    assert after == before
