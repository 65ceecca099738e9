"""Roster site settings and vendor names on a real database (SQLite and PostgreSQL): time zones
checked through zoneinfo with the row and field named, saves all or nothing, names and local
times for pages, and the demo seed writes them."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from kb_app import demo, roster_sites
from kb_app.models import AuditEvent, RosterSite, RosterVendor

MANILA = {"code": "manila", "name": "Manila", "time_zone": "Asia/Manila"}
BOGOTA = {"code": "bogota", "name": "Bogotá", "time_zone": "America/Bogota"}


def test_settings_are_saved_and_shown_by_name(session):
    counts = roster_sites.save_settings(
        session, [MANILA, BOGOTA], [{"code": "northwind-bpo", "name": "Northwind BPO"}], actor="admin@example.com"
    )
    assert counts == (2, 1)
    names = roster_sites.Names.load(session)
    assert names.site_name("bogota") == "Bogotá" and names.vendor_name("northwind-bpo") == "Northwind BPO"
    assert names.site_name("cebu") == "Cebu" and names.vendor_name("apex-cx") == "apex-cx"  # not set: the code
    assert names.site_zone("manila") == ZoneInfo("Asia/Manila") and names.site_zone("cebu") is None
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "roster.site_settings")).one()
    assert event.details["sites"] == {"manila": "Asia/Manila", "bogota": "America/Bogota"}


def test_a_bad_row_names_its_row_and_field_and_nothing_is_written(session):
    roster_sites.save_settings(session, [MANILA], [], actor="admin")
    session.commit()
    rows = [
        {"code": "manila", "name": "Manila", "time_zone": "Asia/Manilla"},
        {"code": "Cebu City", "name": "", "time_zone": "Asia/Manila"},
        BOGOTA,
        {"code": "bogota", "name": "Again", "time_zone": "UTC"},
    ]
    with pytest.raises(roster_sites.SettingsRefused) as caught:
        roster_sites.save_settings(session, rows, [{"code": "apex-cx", "name": "Apex\x07"}], actor="admin")
    problems = caught.value.problems
    assert "site row 1 (manila): time_zone 'Asia/Manilla' is not an IANA time zone" in problems[0]
    assert any(p.startswith("site row 2: code 'Cebu City'") for p in problems)
    assert "site row 2: name is required" in problems
    assert "site row 4 (bogota): code 'bogota' is given twice" in problems
    assert "vendor row 1 (apex-cx): name contains a control character" in problems
    session.rollback()
    assert [s.time_zone for s in roster_sites.site_settings(session)] == ["Asia/Manila"]
    assert session.scalar(select(func.count()).select_from(RosterVendor)) == 0


@pytest.mark.parametrize("name", ["", " UTC", "Not/AZone", "../../etc/passwd", "x" * 80])
def test_time_zones_are_iana_names(name):
    with pytest.raises(ValueError, match="IANA time zone"):
        roster_sites.zone(name)


def test_local_time_with_utc_beside_it():
    at = datetime(2026, 12, 2, 3, 30, tzinfo=timezone.utc)
    shown = roster_sites.local_time(at, ZoneInfo("Asia/Manila"))
    assert (shown.local, shown.utc, shown.iso) == ("2026-12-02 11:30 PST", "2026-12-02 03:30 UTC", at.isoformat())
    assert roster_sites.local_time(at, ZoneInfo("America/Bogota")).local == "2026-12-01 22:30 UTC-5"
    assert roster_sites.local_time(at.replace(tzinfo=None), ZoneInfo("UTC")).utc == "2026-12-02 03:30 UTC"


def test_languages_by_name():
    assert roster_sites.language_label("tl") == "Tagalog" and roster_sites.language_label("es") == "Spanish"
    assert roster_sites.language_label("xx") == "xx"


def test_the_demo_seed_writes_site_zones_and_vendor_names_once(session):
    demo.seed(session, actor="test")
    demo.seed(session, actor="test")
    zones = {s.code: s.time_zone for s in roster_sites.site_settings(session)}
    assert (
        zones["manila"] == "Asia/Manila" and zones["krakow"] == "Europe/Warsaw" and zones["bogota"] == "America/Bogota"
    )
    assert roster_sites.roster_codes_without_settings(session) == ([], [])
    assert session.get(RosterVendor, "northwind-bpo").name == "Northwind BPO"
    assert session.scalar(select(func.count()).select_from(RosterSite)) == len(zones)


def test_kb_roster_sites_imports_a_csv_whole_or_names_each_bad_line(runner, session, tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("code,name,time_zone\nmanila,Manila,Asia/Manila\ncebu,,Asia/Manilla\n", encoding="utf-8")
    result = runner.invoke(["roster", "sites", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: error: site cebu: name is required" in result.stderr
    assert f"{path}:3: error: site cebu: time_zone 'Asia/Manilla' is not an IANA time zone" in result.stderr
    assert "nothing was imported" in result.stderr
    assert roster_sites.site_settings(session) == []
    path.write_text("code,name,time_zone\nmanila,Manila,Asia/Manila\ncebu,Cebu,Asia/Manila\n", encoding="utf-8")
    assert runner.invoke(["roster", "sites", str(path), "--dry-run"]).exit_code == 0
    assert roster_sites.site_settings(session) == []
    done = runner.invoke(["roster", "sites", str(path), "--json"])
    assert done.exit_code == 0 and '"time_zone": "Asia/Manila"' in done.stdout
    session.expire_all()
    assert [s.code for s in roster_sites.site_settings(session)] == ["cebu", "manila"]
    path.write_text("name,time_zone\nManila,Asia/Manila\n", encoding="utf-8")
    missing = runner.invoke(["roster", "sites", str(path)])
    assert missing.exit_code == 1 and f"{path}:1: error: missing column(s): code" in missing.stderr
