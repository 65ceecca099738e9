"""The agent's reading list on a real database (SQLite and PostgreSQL): open bulletins first, then
overdue, then by due date; major, minor and new changes told apart; the next item after an
acknowledgement; and what changed as a rendered redline of the agent's tier's text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kb_app.acks.acknowledge import acknowledge, next_to_read, reading_list, what_changed
from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.models import Agent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
V1_BODY = """## Verify {#verify}

One strong signal is enough.

/// tier | T2
Check the ASN list OLD-T2-SECRET.
///

## Steps {#steps}

1. Confirm identity.
2. Sign out every session.
"""
V2_BODY = """## Verify {#verify}

Two strong signals are needed now.

/// tier | T2
Check the ASN list NEW-T2-SECRET.
///

## Steps {#steps}

1. Confirm identity.
2. Sign out every session.
3. Reset the password.
"""


def changelog(version: str, *older: str, ack: bool = False) -> list[dict]:
    entries = [{"version": version, "date": "2026-03-01", "summary": f"Changes in {version}."}]
    if ack:
        entries[0]["ack_required"] = True
    return entries + [{"version": v, "date": "2026-01-01", "summary": f"Version {v}."} for v in older]


@pytest.fixture
def world(session, sop_dir, make_agent):
    """Published at T0: SOP-A and SOP-C (acknowledged by the agents) and SOP-B (not). At T0 + 6
    days: SOP-A 2.0 (major), SOP-C 1.1 (minor, acknowledgement asked) and a 4-hour bulletin."""
    t1 = make_agent(employee_id="T1-AGENT", tier="T1")
    t2 = make_agent(employee_id="T2-AGENT", tier="T2", vendor="in-house", site="dublin")
    sop_dir.write("SOP-A", body=V1_BODY)
    sop_dir.write("SOP-C")
    sop_dir.write("SOP-B")  # left unread: due at T0 + 7 days
    publish(session, load_catalog(sop_dir.root), now=T0, by="test")
    for employee_id in ("T1-AGENT", "T2-AGENT"):
        agent = session.scalars(select(Agent).where(Agent.employee_id == employee_id)).one()
        for sop_id in ("SOP-A", "SOP-C"):
            acknowledge(session, agent, sop_id, what_changed(session, agent, sop_id).content_hash, now=T0)
    later = T0 + timedelta(days=6)
    sop_dir.write("SOP-A", body=V2_BODY, version="2.0", changelog=changelog("2.0", "1.0"))
    sop_dir.write("SOP-C", version="1.1", changelog=changelog("1.1", "1.0", ack=True), body=V2_BODY.replace("T2", "T1"))
    sop_dir.write("BUL-1", kind="bulletin", expires="2099-01-01")
    publish(session, load_catalog(sop_dir.root), now=later, by="test")
    session.flush()
    return {"t1": session.get(Agent, t1.id), "t2": session.get(Agent, t2.id), "published": later}


def test_open_bulletins_come_first_then_overdue_then_by_due_date(session, world):
    published = world["published"]
    # Four days on: SOP-B (due T0 + 7 days) is overdue, the 4-hour bulletin too; SOP-A and SOP-C are due in 3 days.
    items = reading_list(session, world["t1"], now=published + timedelta(days=4))
    assert [i.sop_id for i in items][:2] == ["BUL-1", "SOP-B"]
    assert items[0].is_bulletin and items[0].overdue and items[1].overdue and not items[1].is_bulletin
    rest = items[2:]
    assert [i.due_at for i in rest] == sorted(i.due_at for i in rest) and not any(i.overdue for i in rest)
    # Before anything is due the bulletin still leads, however soon the rest are due.
    fresh = reading_list(session, world["t1"], now=published + timedelta(minutes=5))
    assert fresh[0].sop_id == "BUL-1" and not any(i.overdue for i in fresh)


def test_major_minor_and_new_changes_are_told_apart(session, world):
    kinds = {i.sop_id: i.change for i in reading_list(session, world["t1"], now=world["published"])}
    assert kinds == {"SOP-A": "major", "SOP-C": "minor", "SOP-B": "new", "BUL-1": "new"}


def test_after_an_acknowledgement_the_next_item_is_the_first_still_to_read(session, world):
    agent = world["t1"]
    now = world["published"] + timedelta(hours=1)
    items = reading_list(session, agent, now=now)
    assert next_to_read(items, after="BUL-1").sop_id == items[1].sop_id
    acknowledge(session, agent, "BUL-1", what_changed(session, agent, "BUL-1").content_hash, now=now)
    items = reading_list(session, agent, now=now)
    assert "BUL-1" not in [i.sop_id for i in items]
    assert next_to_read(items, after="BUL-1").sop_id == items[0].sop_id
    assert next_to_read([i for i in items if i.sop_id == "SOP-A"], after="SOP-A") is None


def test_what_changed_is_a_redline_of_the_tier_1_text_without_tier_2_blocks(session, world):
    change = what_changed(session, world["t1"], "SOP-A")
    result = change.redline()
    assert result is not None
    statuses = {s.anchor: s.status for s in result.sections}
    assert statuses == {"verify": "changed", "steps": "changed"}
    html = "".join(s.html for s in result.sections)
    assert "SECRET" not in html and "ASN" not in html
    assert "Two" in html and "<del" in html and "<ins" in html and "Reset the password." in html
    assert "{#verify}" not in html and "///" not in html


def test_a_tier_2_reader_sees_their_block_changed(session, world):
    html = "".join(s.html for s in what_changed(session, world["t2"], "SOP-A").redline().sections)
    assert "NEW-T2-SECRET" in html and "OLD-T2-SECRET" in html and "Tier 2 only" in html


def test_no_redline_for_a_first_read(session, world):
    change = what_changed(session, world["t1"], "SOP-B")
    assert change.diff is None and change.redline() is None
