"""Roster ids ignore case, control characters are refused with the row's line, and the roster
export is guarded against spreadsheet formulas (and still re-imports unchanged)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from kb_app import roster
from kb_app.models import Agent
from kb_app.problems import InputError

HEADER = "employee_id,name,email,tier,vendor,site,team,language,manager,start_date,active\n"


def _row(employee_id: str, name: str = "Ana Cruz", email: str = "ana@nw.example") -> str:
    return f"{employee_id},{name},{email},T1,northwind-bpo,manila,NW 1,en,Lead,2025-06-02,true\n"


def test_ids_that_differ_only_in_case_are_one_agent(session):
    rows = roster.read_roster_csv((HEADER + _row("NW-1")).encode())
    roster.import_roster(session, rows, actor="test")
    session.commit()
    again = roster.read_roster_csv((HEADER + _row("nw-1", name="Ana M. Cruz")).encode())
    plan = roster.import_roster(session, again, actor="test")
    session.commit()
    assert plan.counts()["new"] == 0 and plan.counts()["changed"] == 1
    assert session.scalar(select(func.count()).select_from(Agent)) == 1
    assert session.scalar(select(Agent.employee_id)) == "NW-1"
    assert roster.agent_by_employee_id(session, "nw-1").name == "Ana M. Cruz"


def test_a_file_naming_one_id_in_two_cases_is_refused():
    with pytest.raises(InputError) as refused:
        roster.read_roster_csv((HEADER + _row("NW-1") + _row("nw-1", email="b@nw.example")).encode())
    [problem] = refused.value.problems
    assert problem.line == 3 and "duplicate employee_id" in problem.message


@pytest.mark.parametrize("bad", ["Ana\x00Cruz", "Ana\x1bCruz", "Ana\x7f"])
def test_a_control_character_is_refused_with_its_line(session, bad):
    data = HEADER + _row("NW-1") + _row("NW-2", name=bad, email="b@nw.example")
    with pytest.raises(InputError) as refused:
        roster.import_roster(session, roster.read_roster_csv(data.encode()), actor="test")
    [problem] = refused.value.problems
    assert problem.line == 3 and "name contains a control character" in problem.message
    assert session.scalar(select(func.count()).select_from(Agent)) == 0


def test_the_roster_export_is_guarded_and_round_trips(session):
    rows = roster.read_roster_csv((HEADER + _row("NW-1", name='=HYPERLINK("http://x.example";"hi")')).encode())
    roster.import_roster(session, rows, actor="test")
    session.commit()
    out = io.StringIO()
    roster.export_roster(session, out)
    assert "'=HYPERLINK" in out.getvalue()
    plan = roster.import_roster(session, roster.read_roster_csv(out.getvalue().encode()), actor="test")
    assert plan.counts() == {"new": 0, "changed": 0, "unchanged": 1, "deactivated": 0}


def test_the_roster_page_export_is_guarded(client, auth, make_agent):
    make_agent(name="@SUM(A1:A9)")
    auth.login_as("admin")
    body = client.get("/roster.csv").get_data(as_text=True)
    assert ",'@SUM(A1:A9)," in body
