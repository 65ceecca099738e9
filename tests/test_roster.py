"""Roster import (all or nothing, every bad row by line), export, summaries and the demo roster."""

from __future__ import annotations

import io
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from kb_app import demo, roster
from kb_app.models import Agent, AuditEvent
from kb_app.problems import InputError

HEADER = "employee_id,name,email,tier,vendor,site,team,language,manager,start_date,active"


def csv_bytes(*rows: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *rows]).encode("utf-8") + newline.encode()


def row(
    employee_id="NW-1",
    name="Maria Santos",
    email="maria@nw.example",
    tier="T1",
    vendor="northwind-bpo",
    site="manila",
    team="NW Manila 1",
    language="en",
    manager="Ana Cruz",
    start_date="2025-06-02",
    active="true",
) -> str:
    return ",".join([employee_id, name, email, tier, vendor, site, team, language, manager, start_date, active])


def problems_of(data: bytes) -> dict[int, str]:
    with pytest.raises(InputError) as caught:
        roster.read_roster_csv(data, "roster.csv")
    return {p.line: p.message for p in caught.value.problems}


def count_agents(session) -> int:
    return session.scalar(select(func.count()).select_from(Agent))


# --- reading -------------------------------------------------------------------------------


def test_reads_a_spreadsheet_export_with_bom_crlf_and_stray_whitespace():
    data = b"\xef\xbb\xbf" + csv_bytes(
        row(),
        " NW-2 ,  Jose Reyes ,JOSE@NW.EXAMPLE , t1 , Northwind-BPO , Manila ,NW Manila 1, EN ,, 2025-07-01 , ",
        newline="\r\n",
    )
    rows = roster.read_roster_csv(data)
    assert [r.employee_id for r in rows] == ["NW-1", "NW-2"]
    jose = rows[1]
    assert (jose.name, jose.email, jose.tier, jose.vendor, jose.site, jose.language) == (
        "Jose Reyes",
        "jose@nw.example",
        "T1",
        "northwind-bpo",
        "manila",
        "en",
    )
    assert jose.manager is None and jose.active is True and jose.start_date == date(2025, 7, 1)
    assert jose.line == 3


def test_semicolon_delimited_exports_are_read():
    data = csv_bytes(row().replace(",", ";"), header=HEADER.replace(",", ";"))
    assert roster.read_roster_csv(data)[0].employee_id == "NW-1"


def test_manager_and_active_columns_are_optional():
    header = "employee_id,name,email,tier,vendor,site,team,language,start_date"
    rows = roster.read_roster_csv(
        csv_bytes("NW-1,A B,a@x.example,T2,in-house,dublin,Inv A,en,2024-01-01", header=header)
    )
    assert rows[0].active is True and rows[0].manager is None and rows[0].tier == "T2"


def test_blank_lines_are_skipped_and_line_numbers_stay_true():
    data = csv_bytes(row(), "", row(employee_id="NW-2", tier="T9"))
    assert problems_of(data) == {4: "unknown tier 'T9' (expected T1 or T2)"}


def test_missing_column_rejects_the_file():
    header = HEADER.replace("tier,", "")
    data = csv_bytes(row().replace("T1,", ""), header=header)
    assert problems_of(data) == {1: "missing column(s): tier"}


def test_every_bad_row_is_listed_with_its_line_number():
    data = csv_bytes(
        row(employee_id="NW-1"),
        row(employee_id="NW-2", tier="T3"),
        row(employee_id="NW-3", start_date="2025-13-01"),
        row(employee_id="NW-1"),
        row(employee_id="NW-4", email="not-an-email"),
        row(employee_id="NW-5", start_date="02/06/2025"),
        row(employee_id="", name=""),
        "NW-6,too,few",
        row(employee_id="NW-7", active="maybe"),
        row(employee_id="NW-8", language="english"),
        row(employee_id="NW-9", vendor="North wind"),
        row(employee_id="NW-10", start_date="20250602"),
        row(employee_id="NW-11"),
    )
    found = problems_of(data)
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert "unknown tier 'T3'" in found[3]
    assert "start_date '2025-13-01' is not a date" in found[4]
    assert "duplicate employee_id 'NW-1' (first on line 2)" in found[5]
    assert "email 'not-an-email' is not an email address" in found[6]
    assert "not a date" in found[7]
    assert "employee_id is empty" in found[8] and "name is empty" in found[8]
    assert found[9] == "row has 3 values, the header has 11"
    assert "active 'maybe'" in found[10]
    assert "language 'english'" in found[11]
    assert "vendor 'North wind'" in found[12]
    assert "not a date" in found[13]


def test_undecodable_bytes_are_reported_on_their_line_along_with_other_bad_rows():
    data = csv_bytes(
        row(), row(employee_id="NW-2", name="Mar\xeda").replace("Mar\xeda", "MARIA"), row(employee_id="NW-3", tier="X")
    )
    data = data.replace(b"MARIA", "Mar\xeda".encode("latin-1"))
    found = problems_of(data)
    assert sorted(found) == [3, 4]
    assert "not valid UTF-8 (byte 0xed" in found[3]
    assert "unknown tier" in found[4]


def test_an_empty_file_is_rejected():
    assert problems_of(b"") == {1: "empty file: expected a header row with " + ", ".join(roster.COLUMNS)}
    assert 1 in problems_of(b"\xef\xbb\xbf\r\n\r\n")


def test_duplicate_header_columns_are_rejected():
    assert "duplicate column(s): email" in problems_of(csv_bytes(header=HEADER + ",email"))[1]


def test_unterminated_quote_is_reported_not_raised():
    found = problems_of(csv_bytes(row(), 'NW-2,"Maria,x@y.example'))
    assert any("cannot read CSV" in message or "values" in message for message in found.values())


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_either_parse_or_raise_input_error(data):
    try:
        roster.read_roster_csv(HEADER.encode() + b"\n" + data)
    except InputError as exc:
        assert exc.problems and all(p.line >= 1 for p in exc.problems)


# --- importing -----------------------------------------------------------------------------


def import_bytes(session, data: bytes, **kwargs) -> roster.ImportPlan:
    plan = roster.import_roster(session, roster.read_roster_csv(data), actor="test", source="roster.csv", **kwargs)
    session.commit()
    return plan


def test_import_inserts_then_updates_by_employee_id(session):
    first = import_bytes(session, csv_bytes(row(employee_id="NW-1"), row(employee_id="NW-2", email="b@nw.example")))
    assert first.counts() == {"new": 2, "changed": 0, "unchanged": 0, "deactivated": 0}
    second = import_bytes(
        session,
        csv_bytes(
            row(employee_id="NW-1", team="NW Manila 2", tier="T2"),
            row(employee_id="NW-2", email="b@nw.example"),
            row(employee_id="NW-3", email="c@nw.example"),
        ),
    )
    assert second.counts() == {"new": 1, "changed": 1, "unchanged": 1, "deactivated": 0}
    assert second.field_counts() == {"team": 1, "tier": 1}
    agent = session.scalar(select(Agent).where(Agent.employee_id == "NW-1"))
    assert (agent.team, agent.tier) == ("NW Manila 2", "T2")
    assert count_agents(session) == 3


def test_dry_run_writes_nothing_but_reports_what_would_change(session):
    import_bytes(session, csv_bytes(row(employee_id="NW-1")))
    plan = roster.import_roster(
        session,
        roster.read_roster_csv(csv_bytes(row(employee_id="NW-1", site="cebu"), row(employee_id="NW-2"))),
        dry_run=True,
    )
    session.rollback()
    assert plan.counts() == {"new": 1, "changed": 1, "unchanged": 0, "deactivated": 0}
    assert plan.to_dict()["changes"][0]["fields"] == {"site": {"old": "manila", "new": "cebu"}}
    assert count_agents(session) == 1
    assert session.scalar(select(Agent.site)) == "manila"


def test_deactivate_missing_deactivates_agents_absent_from_the_file(session):
    import_bytes(
        session, csv_bytes(row(employee_id="NW-1"), row(employee_id="NW-2"), row(employee_id="NW-3", active="false"))
    )
    plan = import_bytes(session, csv_bytes(row(employee_id="NW-1")), deactivate_missing=True)
    assert plan.counts()["deactivated"] == 1  # NW-3 was already inactive
    assert [e for _, e in plan.deactivated] == ["NW-2"]
    active = dict(session.execute(select(Agent.employee_id, Agent.active)).all())
    assert active == {"NW-1": True, "NW-2": False, "NW-3": False}


def test_an_agent_back_in_the_file_is_active_again(session):
    import_bytes(session, csv_bytes(row(employee_id="NW-1", active="no")))
    plan = import_bytes(session, csv_bytes(row(employee_id="NW-1")))
    assert plan.field_counts() == {"active": 1}


def test_import_is_recorded_in_the_audit_log(session):
    import_bytes(session, csv_bytes(row()))
    event_ = session.scalar(select(AuditEvent).where(AuditEvent.action == "roster.import"))
    assert event_.details["new"] == 1 and event_.target == "roster.csv" and event_.actor == "test"


def test_bulk_import_uses_a_handful_of_statements_not_one_per_row(session, engine):
    rows = [row(employee_id=f"NW-{n}", email=f"a{n}@nw.example") for n in range(2500)]
    statements = []

    def count(*_args, **_kwargs):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        import_bytes(session, csv_bytes(*rows))
        changed = [r.replace("NW Manila 1", "NW Manila 9") if i % 10 == 0 else r for i, r in enumerate(rows)]
        plan = import_bytes(session, csv_bytes(*changed), deactivate_missing=True)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert plan.counts()["changed"] == 250
    assert count_agents(session) == 2500
    assert len(statements) < 40


def test_export_reimports_unchanged_including_unicode_and_commas(session):
    import_bytes(
        session,
        csv_bytes(
            row(employee_id="PL-1", name="Łukasz Wiśniewski", site="krakow", language="pl"),
            row(employee_id="AR-1", name='Nour "Nana" Hassan, Jr.'.replace('"', '""').join('""'), manager=""),
        ),
    )
    out = io.StringIO()
    assert roster.export_roster(session, out) == 2
    plan = roster.plan_import(session, roster.read_roster_csv(out.getvalue().encode("utf-8")))
    assert plan.counts() == {"new": 0, "changed": 0, "unchanged": 2, "deactivated": 0}
    assert 'Nour "Nana" Hassan, Jr.' in {a.name for a in session.scalars(select(Agent))}


def test_summary_counts_are_computed_per_group(session, make_agent):
    make_agent(vendor="apex-cx", site="bogota")
    make_agent(vendor="apex-cx", site="bogota", active=False)
    make_agent(vendor="apex-cx", site="cairo")
    make_agent(vendor="in-house", site="dublin", tier="T2")
    groups = roster.roster_summary(session, ("vendor", "site"))
    assert groups == [
        {"vendor": "apex-cx", "site": "bogota", "agents": 2, "active": 1, "t1": 1, "t2": 0, "inactive": 1},
        {"vendor": "apex-cx", "site": "cairo", "agents": 1, "active": 1, "t1": 1, "t2": 0, "inactive": 0},
        {"vendor": "in-house", "site": "dublin", "agents": 1, "active": 1, "t1": 0, "t2": 1, "inactive": 0},
    ]
    assert roster.roster_summary(session, ("site",), vendor="in-house")[0]["site"] == "dublin"
    with pytest.raises(ValueError):
        roster.roster_summary(session, ("email",))


def test_list_agents_filters_and_searches_safely(session, make_agent):
    make_agent(name="Maria_Santos")
    make_agent(name="Mario Santos")
    make_agent(name="100% Real")
    agents, total = roster.list_agents(session, roster.RosterFilter(q="maria_"))
    assert total == 1 and agents[0].name == "Maria_Santos"
    assert roster.list_agents(session, roster.RosterFilter(q="%"))[1] == 1


# --- the command ---------------------------------------------------------------------------


def test_kb_roster_import_rejects_a_bad_file_whole_and_lists_every_bad_row(runner, session, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(
        csv_bytes(row(employee_id="NW-1"), row(employee_id="NW-2", tier="T3"), row(employee_id="NW-3", email="x"))
    )
    result = runner.invoke(["roster", "import", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: error: unknown tier 'T3'" in result.stderr
    assert f"{path}:4: error: email 'x' is not an email address" in result.stderr
    assert "nothing was imported" in result.stderr
    assert count_agents(session) == 0


def test_kb_roster_import_dry_run_then_real(runner, session, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(csv_bytes(row(employee_id="NW-1"), row(employee_id="NW-2")))
    assert runner.invoke(["roster", "import", str(path)]).exit_code == 0
    path.write_bytes(csv_bytes(row(employee_id="NW-1", team="NW Manila 3"), row(employee_id="NW-3")))
    dry = runner.invoke(["roster", "import", str(path), "--dry-run", "--deactivate-missing"])
    assert dry.exit_code == 0, dry.output
    assert "would import: 1 new, 1 changed, 0 unchanged, 1 deactivated" in dry.stdout
    assert "changed fields: team (1)" in dry.stdout
    assert "NW-1 (line 2): team: 'NW Manila 1' -> 'NW Manila 3'" in dry.stdout
    assert "NW-2: would be deactivated" in dry.stdout
    assert count_agents(session) == 2
    real = runner.invoke(["roster", "import", str(path), "--deactivate-missing", "--json"])
    assert '"deactivated": 1' in real.stdout
    assert count_agents(session) == 3


def test_kb_roster_export_writes_csv_to_stdout_or_a_file(runner, make_agent, tmp_path):
    make_agent(employee_id="NW-1", vendor="northwind-bpo")
    make_agent(employee_id="AX-1", vendor="apex-cx")
    result = runner.invoke(["roster", "export", "--vendor", "apex-cx"])
    assert result.stdout.splitlines()[0] == HEADER
    assert [line.split(",")[0] for line in result.stdout.splitlines()[1:]] == ["AX-1"]
    out = tmp_path / "out.csv"
    assert runner.invoke(["roster", "export", "--output", str(out)]).exit_code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


# --- demo ----------------------------------------------------------------------------------


def test_demo_roster_is_deterministic_and_about_300_agents():
    first, second = demo.generate_roster(), demo.generate_roster()
    assert first == second
    assert 250 <= len(first) <= 350
    assert {r.vendor for r in first} == {"northwind-bpo", "apex-cx", "lumen-support", "in-house"}
    assert {r.site for r in first} == {"manila", "cebu", "bogota", "krakow", "cairo", "dublin"}
    assert {r.language for r in first} == {"en", "es", "pl", "ar", "tl"}
    assert {r.tier for r in first if r.vendor == "in-house"} == {"T2"}
    assert len({r.employee_id for r in first}) == len(first)
    assert len({r.email for r in first}) == len(first)
    assert all(r.manager for r in first)


def test_kb_demo_seed_is_idempotent_and_prints_the_logins(runner, session):
    first = runner.invoke(["demo", "seed"])
    assert first.exit_code == 0, first.output
    for email in (
        "agent.t1@demo.example",
        "agent.t2@demo.example",
        "pm.northwind@demo.example",
        "trainer@demo.example",
        "admin@demo.example",
        "lead@demo.example",
    ):
        assert email in first.stdout
    assert "demo-admin-pw" in first.stdout
    total = count_agents(session)
    second = runner.invoke(["demo", "seed", "--json"])
    assert second.exit_code == 0
    assert '"unchanged": %d' % total in second.stdout
    assert count_agents(session) == total


def test_an_empty_file_never_deactivates_the_whole_roster(runner, session, make_agent, tmp_path):
    make_agent(employee_id="NW-1")
    path = tmp_path / "empty.csv"
    path.write_bytes(csv_bytes())
    result = runner.invoke(["roster", "import", str(path), "--deactivate-missing"])
    assert result.exit_code == 1
    assert "refusing to deactivate the whole roster" in result.stderr
    assert session.scalar(select(Agent.active)) is True
