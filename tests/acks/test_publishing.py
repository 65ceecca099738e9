"""Publishing, acknowledgements, coverage and reminders on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb_app.acks.acknowledge import AckError, acknowledge, banner_for, open_bulletins, reading_list, what_changed
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Agent, Acknowledgement, Assignment, PublishedVersion, Requirement
from kb_app.acks.publishing import PublishRefused, plan_publish, publish, sync_assignments
from kb_app.acks.coverage import CoverageFilter, acknowledgements_over_time, coverage, overdue_agents

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
HISTORY = [{"version": "1.0", "date": "2026-01-01", "summary": "First."}]


def bump(version: str, summary: str = "Changed.", **extra):
    return [{"version": version, "date": "2026-03-01", "summary": summary, **extra}, *HISTORY]


@pytest.fixture
def roster(engine):
    """Six T1 agents over two vendors, two T2 in-house agents."""
    people = [
        ("N1", "T1", "northwind-bpo", "manila", "en"),
        ("N2", "T1", "northwind-bpo", "manila", "tl"),
        ("N3", "T1", "northwind-bpo", "cebu", "en"),
        ("A1", "T1", "apex-cx", "bogota", "es"),
        ("A2", "T1", "apex-cx", "bogota", "es"),
        ("A3", "T1", "apex-cx", "krakow", "pl"),
        ("H1", "T2", "in-house", "dublin", "en"),
        ("H2", "T2", "in-house", "dublin", "en"),
    ]
    with session_scope(engine) as session:
        for emp, tier, vendor, site, language in people:
            session.add(
                Agent(
                    employee_id=emp,
                    name=f"Agent {emp}",
                    email=f"{emp.lower()}@example.com",
                    tier=tier,
                    vendor=vendor,
                    site=site,
                    team=f"{site}-team",
                    language=language,
                    manager=f"Lead {site}",
                    start_date=date(2025, 6, 1),
                )
            )
    return engine


def agent(session, employee_id: str) -> Agent:
    return session.scalars(select(Agent).where(Agent.employee_id == employee_id)).one()


def run_publish(engine, sop_dir, now=NOW, **kwargs):
    with session_scope(engine) as session:
        return publish(session, load_catalog(sop_dir.root), now=now, by="test", **kwargs)


def count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def ack(engine, employee_id: str, sop_id: str, now=NOW, **kwargs):
    with session_scope(engine) as session:
        who = agent(session, employee_id)
        content_hash = kwargs.pop("content_hash", None) or what_changed(session, who, sop_id).content_hash
        return acknowledge(session, who, sop_id, content_hash, now=now, **kwargs)


class TestPublish:
    def test_first_publish_records_versions_and_assigns_the_audience(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})
        sop_dir.write("APEX-ONLY", audience={"tiers": ["T1"], "vendors": ["apex-cx"]})
        plan = run_publish(roster, sop_dir)
        populations = {i.sop_id: i.population for i in plan.changes}
        assert populations == {"ATO-RECOVERY": 8, "T2-INFRA": 2, "APEX-ONLY": 3}
        assert count(roster, PublishedVersion) == 3
        assert count(roster, Assignment) == 13
        with session_scope(roster) as session:
            version = session.scalars(select(PublishedVersion).where(PublishedVersion.sop_id == "T2-INFRA")).one()
            assert set(version.tier_hashes) == {"T2"}
            assert "## Purpose" in version.body and version.sections

    def test_dry_run_writes_nothing(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        with session_scope(roster) as session:
            plan = plan_publish(session, load_catalog(sop_dir.root), now=NOW)
        assert [i.action for i in plan.changes] == ["new"]
        assert count(roster, PublishedVersion) == 0

    def test_publishing_twice_changes_nothing(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        assert run_publish(roster, sop_dir).changes == []
        assert count(roster, Requirement) == 1

    def test_minor_bump_opens_no_requirement(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        sop_dir.write("ATO-RECOVERY", version="1.1", changelog=bump("1.1"), body="## Purpose\n\nReworded.\n")
        plan = run_publish(roster, sop_dir)
        assert [(i.action, i.opens_requirement) for i in plan.changes] == [("minor", False)]
        assert count(roster, Requirement) == 1

    def test_major_bump_supersedes_the_open_requirement(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        sop_dir.write("ATO-RECOVERY", version="2.0", changelog=bump("2.0"), body="## Purpose\n\nNew rule.\n")
        run_publish(roster, sop_dir, now=NOW + timedelta(days=1))
        with session_scope(roster) as session:
            requirements = session.scalars(select(Requirement).order_by(Requirement.id)).all()
            assert [(r.major, r.closed_reason) for r in requirements] == [(1, "superseded"), (2, None)]

    def test_minor_bump_with_ack_required_opens_one(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        sop_dir.write(
            "ATO-RECOVERY",
            version="1.1",
            changelog=bump("1.1", ack_required=True),
            body="## Purpose\n\nSmall but important.\n",
        )
        assert run_publish(roster, sop_dir).changes[0].opens_requirement

    def test_text_changed_without_bump_is_refused_and_nothing_is_written(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        sop_dir.write("ATO-RECOVERY", body="## Purpose\n\nQuietly changed.\n")
        sop_dir.write("NEW-SOP")
        with pytest.raises(PublishRefused) as refused:
            run_publish(roster, sop_dir)
        assert "ATO-RECOVERY changed but version is still 1.0" in str(refused.value)
        assert count(roster, PublishedVersion) == 1

    def test_failure_half_way_leaves_nothing(self, roster, sop_dir, monkeypatch):
        import kb_app.acks.publishing as publishing

        sop_dir.write("ATO-A")
        sop_dir.write("ATO-B")
        real = publishing.open_requirement
        calls = []

        def failing(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("disk full")
            return real(*args, **kwargs)

        monkeypatch.setattr(publishing, "open_requirement", failing)
        with pytest.raises(RuntimeError):
            run_publish(roster, sop_dir)
        assert count(roster, PublishedVersion) == 0 and count(roster, Requirement) == 0

    def test_retiring_closes_open_requirements(self, roster, sop_dir):
        sop_dir.write("OLD-SOP")
        run_publish(roster, sop_dir)
        sop_dir.write("OLD-SOP", status="retired")
        plan = run_publish(roster, sop_dir)
        assert [i.action for i in plan.changes] == ["retire"]
        with session_scope(roster) as session:
            assert session.scalars(select(Requirement.closed_reason)).one() == "retired"

    def test_bulletin_is_due_within_hours(self, roster, sop_dir):
        sop_dir.write("BUL-WAVE", kind="bulletin", ack_within="4h")
        plan = run_publish(roster, sop_dir)
        assert plan.changes[0].due_at == NOW + timedelta(hours=4)

    def test_new_hire_gets_an_onboarding_window(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        with session_scope(roster) as session:
            session.add(
                Agent(
                    employee_id="NEW1",
                    name="New Hire",
                    email="new1@example.com",
                    tier="T1",
                    vendor="apex-cx",
                    site="bogota",
                    team="bogota-team",
                    language="es",
                    manager="Lead",
                    start_date=date(2026, 11, 20),
                )
            )
        with session_scope(roster) as session:
            assert sync_assignments(session, now=NOW + timedelta(days=20), onboarding_days=14) == 1
            due = session.scalars(select(Assignment.due_at).join(Agent).where(Agent.employee_id == "NEW1")).one()
        assert due == datetime(2026, 12, 4, tzinfo=timezone.utc)

    def test_deactivated_agents_leave_the_population(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        with session_scope(roster) as session:
            agent(session, "A1").active = False
        with session_scope(roster) as session:
            [row] = coverage(session, by=["requirement"], now=NOW)
        assert row.population == 7


class TestAcknowledge:
    def test_acknowledging_twice_returns_the_first_record(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        first = ack(roster, "N1", "ATO-RECOVERY")
        second = ack(roster, "N1", "ATO-RECOVERY", now=NOW + timedelta(hours=3))
        assert first.created and not second.created
        assert second.acknowledgement.acknowledged_at == NOW
        assert count(roster, Acknowledgement) == 1

    def test_forged_hash_is_refused(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        with pytest.raises(AckError) as error:
            ack(roster, "N1", "ATO-RECOVERY", content_hash="0" * 64)
        assert error.value.status == 409 and error.value.code == "hash_mismatch"

    def test_tier2_hash_is_refused_for_a_tier1_reader(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY", body="## Steps\n\nAll.\n\n/// tier | T2\nDeep check.\n///\n")
        run_publish(roster, sop_dir)
        with session_scope(roster) as session:
            t2_hash = session.scalars(select(PublishedVersion)).one().tier_hashes["T2"]
        with pytest.raises(AckError):
            ack(roster, "N1", "ATO-RECOVERY", content_hash=t2_hash)

    def test_superseded_version_is_refused(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        sop_dir.write("ATO-RECOVERY", version="2.0", changelog=bump("2.0"), body="## Purpose\n\nNew.\n")
        run_publish(roster, sop_dir)
        with pytest.raises(AckError) as error:
            ack(roster, "N1", "ATO-RECOVERY", version="1.0")
        assert error.value.code == "superseded" and "v2.0" in error.value.message

    def test_outside_audience_is_refused(self, roster, sop_dir):
        sop_dir.write("APEX-ONLY", audience={"tiers": ["T1"], "vendors": ["apex-cx"]})
        run_publish(roster, sop_dir)
        with pytest.raises(AckError) as error:
            ack(roster, "N1", "APEX-ONLY")
        assert error.value.status == 403

    def test_tier1_cannot_see_t2_only(self, roster, sop_dir):
        sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})
        run_publish(roster, sop_dir)
        with pytest.raises(AckError) as error:
            ack(roster, "N1", "T2-INFRA", content_hash="x")
        assert error.value.status == 404

    def test_minor_version_acknowledgement_satisfies_the_major_requirement(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        sop_dir.write("ATO-RECOVERY", version="1.1", changelog=bump("1.1"), body="## Purpose\n\nTypo fixed.\n")
        run_publish(roster, sop_dir)
        ack(roster, "N1", "ATO-RECOVERY")
        with session_scope(roster) as session:
            assert reading_list(session, agent(session, "N1"), now=NOW) == []

    @pytest.mark.fresh_db
    def test_concurrent_acknowledgements_make_one_row(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        barrier = threading.Barrier(8)
        results, errors = [], []

        def worker():
            try:
                barrier.wait()
                results.append(ack(roster, "N1", "ATO-RECOVERY").created)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert count(roster, Acknowledgement) == 1
        assert results.count(True) == 1


class TestReadingAndBanners:
    def test_reading_list_shows_the_diff_since_last_acknowledged(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY", body="## Verify {#verify}\n\nOne signal.\n\n## Close {#close}\n\nDone.\n")
        run_publish(roster, sop_dir)
        ack(roster, "N1", "ATO-RECOVERY")
        sop_dir.write(
            "ATO-RECOVERY",
            version="2.0",
            changelog=bump("2.0", "Two signals now."),
            body="## Verify {#verify}\n\nTwo signals.\n\n## Close {#close}\n\nDone.\n",
        )
        run_publish(roster, sop_dir, now=NOW + timedelta(days=1))
        with session_scope(roster) as session:
            who = agent(session, "N1")
            [item] = reading_list(session, who, now=NOW + timedelta(days=1))
            assert (item.sop_id, item.version, item.last_acknowledged, item.summary) == (
                "ATO-RECOVERY",
                "2.0",
                "1.0",
                "Two signals now.",
            )
            change = what_changed(session, who, "ATO-RECOVERY")
            assert change.previous.version == "1.0"
            assert {c.anchor: c.status for c in change.diff.sections} == {"verify": "changed", "close": "unchanged"}
            assert banner_for(session, who, "ATO-RECOVERY", now=NOW + timedelta(days=1)).state == "action_required"
            never = what_changed(session, agent(session, "N2"), "ATO-RECOVERY")
            assert never.diff is None and "Two signals" in never.text

    def test_what_changed_reads_a_published_text_once_per_process_and_sees_a_retirement(self, roster, sop_dir):
        from sqlalchemy import event

        from kb_app.versions import newest_version

        sop_dir.write("ATO-RECOVERY", body="## Verify {#verify}\n\nOne signal.\n")
        run_publish(roster, sop_dir)
        with session_scope(roster) as session:
            first = what_changed(session, agent(session, "N1"), "ATO-RECOVERY")
        statements: list[str] = []

        def seen(_conn, _cursor, statement, *_args) -> None:
            statements.append(statement)

        event.listen(roster, "before_cursor_execute", seen)
        try:
            with session_scope(roster) as session:
                again = what_changed(session, agent(session, "N3"), "ATO-RECOVERY")
                assert again.text == first.text and again.content_hash == first.content_hash
                assert again.current in session  # the session's own instance, not the process's copy
        finally:
            event.remove(roster, "before_cursor_execute", seen)
        assert not [s for s in statements if "published_versions.body" in s], statements
        sop_dir.write("ATO-RECOVERY", status="retired", body="## Verify {#verify}\n\nOne signal.\n")
        run_publish(roster, sop_dir, now=NOW + timedelta(days=1))
        with session_scope(roster) as session:
            assert newest_version(session, "ATO-RECOVERY").status == "retired"

    def test_banner_after_acknowledging(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        ack(roster, "N1", "ATO-RECOVERY")
        with session_scope(roster) as session:
            banner = banner_for(session, agent(session, "N1"), "ATO-RECOVERY", now=NOW)
        assert banner.state == "acknowledged" and banner.version == "1.0" and banner.acknowledged_at == NOW

    def test_open_bulletins_close_when_they_expire_or_retire(self, roster, sop_dir):
        sop_dir.write("BUL-WAVE", kind="bulletin", expires="2026-11-10T00:00:00Z")
        run_publish(roster, sop_dir)
        with session_scope(roster) as session:
            who = agent(session, "N1")
            assert [b.sop_id for b in open_bulletins(session, who, "T1", now=NOW)] == ["BUL-WAVE"]
            assert open_bulletins(session, who, "T1", now=datetime(2026, 11, 11, tzinfo=timezone.utc)) == []
        sop_dir.write("BUL-WAVE", kind="bulletin", status="retired", expires="2026-11-10T00:00:00Z")
        run_publish(roster, sop_dir)
        with session_scope(roster) as session:
            assert open_bulletins(session, agent(session, "N1"), "T1", now=NOW) == []


class TestCoverage:
    def publish_and_ack(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        run_publish(roster, sop_dir)
        ack(roster, "N1", "ATO-RECOVERY", now=NOW + timedelta(days=1))  # on time
        ack(roster, "A1", "ATO-RECOVERY", now=NOW + timedelta(days=9))  # late (due after 7 days)

    def test_states_by_requirement(self, roster, sop_dir):
        self.publish_and_ack(roster, sop_dir)
        with session_scope(roster) as session:
            [early] = coverage(session, by=["requirement"], now=NOW + timedelta(days=2))
            [late] = coverage(session, by=["requirement"], now=NOW + timedelta(days=10))
        assert (early.population, early.on_time, early.late, early.pending, early.overdue) == (8, 1, 1, 6, 0)
        assert (late.on_time, late.late, late.pending, late.overdue) == (1, 1, 0, 6)
        # one day and nine days, read from buckets 4 h and a day wide: the median is within half of each
        assert late.median_hours_to_ack == pytest.approx((24 + 9 * 24) / 2, abs=(4 + 24) / 4)

    def test_rolled_up_by_vendor_and_site(self, roster, sop_dir):
        self.publish_and_ack(roster, sop_dir)
        with session_scope(roster) as session:
            rows = coverage(session, by=["vendor", "site"], now=NOW + timedelta(days=10))
        table = {(r.group["vendor"], r.group["site"]): (r.population, r.acknowledged) for r in rows}
        assert table == {
            ("apex-cx", "bogota"): (2, 1),
            ("apex-cx", "krakow"): (1, 0),
            ("in-house", "dublin"): (2, 0),
            ("northwind-bpo", "cebu"): (1, 0),
            ("northwind-bpo", "manila"): (2, 1),
        }

    def test_vendor_scope_hides_other_vendors(self, roster, sop_dir):
        self.publish_and_ack(roster, sop_dir)
        scope = CoverageFilter(vendor="apex-cx")
        with session_scope(roster) as session:
            rows = coverage(session, by=["site", "team_leader"], now=NOW + timedelta(days=10), flt=scope)
            overdue = overdue_agents(session, now=NOW + timedelta(days=10), flt=scope)
            [total] = coverage(session, by=["requirement"], now=NOW + timedelta(days=10), flt=scope)
        assert {r.group["site"] for r in rows} == {"bogota", "krakow"}
        assert {o.vendor for o in overdue} == {"apex-cx"} and len(overdue) == 2
        assert total.population == 3

    def test_acknowledgements_over_time_is_cumulative(self, roster, sop_dir):
        self.publish_and_ack(roster, sop_dir)
        with session_scope(roster) as session:
            requirement_id = session.scalars(select(Requirement.id)).one()
            points = acknowledgements_over_time(session, requirement_id, buckets=9)
        assert points[-1]["acknowledged"] == 2 and points[-1]["population"] == 8
        assert [p["acknowledged"] for p in points] == sorted(p["acknowledged"] for p in points)

    def test_unknown_grouping_is_a_clear_error(self, roster):
        from kb_app.acks.coverage import ReportError

        with session_scope(roster) as session, pytest.raises(ReportError, match="cannot group coverage by 'colour'"):
            coverage(session, by=["colour"], now=NOW)


def _ack_in_process(url: str, employee_id: str, content_hash: str, start, results) -> None:
    """Runs in a child process: its own engine and connection pool."""
    from kb_app.db import engine_for

    engine = engine_for(url)
    start.wait()
    try:
        with session_scope(engine) as session:
            who = session.scalars(select(Agent).where(Agent.employee_id == employee_id)).one()
            results.put(acknowledge(session, who, "ATO-RECOVERY", content_hash, now=NOW).created)
    except Exception as exc:  # reported to the parent
        results.put(repr(exc))
    finally:
        engine.dispose()


@pytest.mark.fresh_db
def test_concurrent_acknowledgements_from_processes_make_one_row(roster, sop_dir, db_url):
    import multiprocessing

    sop_dir.write("ATO-RECOVERY")
    run_publish(roster, sop_dir)
    with session_scope(roster) as session:
        content_hash = what_changed(session, agent(session, "N1"), "ATO-RECOVERY").content_hash
    roster.dispose()
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_ack_in_process, args=(db_url, "N1", content_hash, start, results)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(outcomes, key=str) == [False, False, False, True], outcomes
    assert count(roster, Acknowledgement) == 1


def test_median_from_buckets_is_within_the_width_of_its_bucket_of_the_true_median():
    import bisect
    import statistics

    from hypothesis import HealthCheck, given, settings, strategies as st

    from kb_app.acks.coverage import median_of_buckets
    from kb_app.models.rollups import BUCKET_BOUNDS

    lows, highs = (0, *BUCKET_BOUNDS), (*BUCKET_BOUNDS, BUCKET_BOUNDS[-1])

    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.integers(min_value=0, max_value=29 * 86400), min_size=1, max_size=200))
    def check(seconds):
        counts = [0] * (len(BUCKET_BOUNDS) + 1)
        for value in seconds:
            counts[bisect.bisect_right(BUCKET_BOUNDS, value)] += 1
        true = statistics.median(seconds)
        # the two middle values' buckets bound the error
        ordered = sorted(seconds)
        middle = {
            bisect.bisect_right(BUCKET_BOUNDS, v)
            for v in (ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2])
        }
        width = max(highs[i] - lows[i] for i in middle)
        assert abs(median_of_buckets(counts) * 3600 - true) <= width + 36

    check()
    assert median_of_buckets([0] * (len(BUCKET_BOUNDS) + 1)) is None


def update_bank_dir(tmp_path):
    quiz_dir = tmp_path / "quizzes"
    quiz_dir.mkdir()
    (quiz_dir / "update-ato-recovery-2-0.yml").write_text(
        "id: update-ato-recovery-2-0\ntitle: ATO recovery 2.0\nkind: update\ntier: T1\nsops: [ATO-RECOVERY]\n"
        'version: "2.0"\npass_mark: 80\nquestions_per_attempt: 1\ntime_limit_minutes: 10\nattempts_per_day: 3\n'
        "cooldown_hours: 1\nvalid_days: 365\nreview_shows_answers: true\nquestions:\n"
        "  - id: q1\n    type: true_false\n    source: ATO-RECOVERY#purpose\n    stem: Two signals are needed.\n"
        "    answer: true\n    explanation: Version 2.0 asks for two.\n",
        encoding="utf-8",
    )
    return quiz_dir


def test_publish_records_which_update_quiz_gates_a_new_version(roster, sop_dir, tmp_path):
    from kb_app.acks.gates import gate_decisions
    from kb_app.quizzes.library import load_directory

    sop_dir.write("ATO-RECOVERY", version="2.0", changelog=bump("2.0"))
    banks = load_directory(update_bank_dir(tmp_path))
    with session_scope(roster) as session:
        plan = publish(session, load_catalog(sop_dir.root), now=NOW, by="test", quiz_banks=banks)
        assert plan.changes[0].quiz_gates == ["update-ato-recovery-2-0"]
        [decision] = gate_decisions(session)
        assert (decision.sop_id, decision.version, [g.bank_id for g in decision.gates]) == (
            "ATO-RECOVERY",
            "2.0",
            ["update-ato-recovery-2-0"],
        )


def test_coverage_counts_acknowledgements_awaiting_their_quiz(roster, sop_dir, tmp_path):
    from kb_app.quizzes.library import load_directory

    sop_dir.write("ATO-RECOVERY", version="2.0", changelog=bump("2.0"))
    with session_scope(roster) as session:
        publish(
            session,
            load_catalog(sop_dir.root),
            now=NOW,
            by="test",
            quiz_banks=load_directory(update_bank_dir(tmp_path)),
        )
    ack(roster, "N1", "ATO-RECOVERY")
    with session_scope(roster) as session:
        [row] = coverage(session, by=["requirement"], now=NOW + timedelta(days=1))
    assert (row.on_time, row.pending, row.awaiting_quiz) == (0, 8, 1)


def test_site_page_maps_to_its_sop_only_for_readers_of_that_tier(roster, sop_dir):
    from kb_app.acks.acknowledge import sop_for_site_page

    sop_dir.write("ATO-RECOVERY")
    sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})
    run_publish(roster, sop_dir)
    with session_scope(roster) as session:
        assert sop_for_site_page(session, "/sop/procedures/ato-recovery/", "T1") == "ATO-RECOVERY"
        assert sop_for_site_page(session, "/sop/procedures/t2-infra/", "T1") is None
        assert sop_for_site_page(session, "/sop/procedures/t2-infra/", "T2") == "T2-INFRA"
        for junk in ("", "/sop/", "/elsewhere/procedures/ato-recovery/", "/sop/../procedures/ato-recovery/"):
            assert sop_for_site_page(session, junk, "T2") is None


class TestTierMateriality:
    """A change a tier cannot see asks nothing of that tier (issue 16, finding 10)."""

    BODY = "## Purpose\n\nVerify the caller.\n\n/// tier | T2\nCheck the login IP history.\n///\n"
    T2_EDIT = "## Purpose\n\nVerify the caller.\n\n/// tier | T2\nCheck the login IP history and the ASN list.\n///\n"

    def _first(self, roster, sop_dir):
        sop_dir.write("ATO-RECOVERY", body=self.BODY)
        run_publish(roster, sop_dir)

    def _t2_change(self, roster, sop_dir, now):
        sop_dir.write("ATO-RECOVERY", version="2.0", changelog=bump("2.0"), body=self.T2_EDIT)
        return run_publish(roster, sop_dir, now=now)

    def test_a_change_inside_a_tier_2_block_asks_no_tier_1_agent_who_read_the_text(self, roster, sop_dir):
        self._first(roster, sop_dir)
        for emp in ("N1", "N2", "A1", "H1"):
            ack(roster, emp, "ATO-RECOVERY")
        plan = self._t2_change(roster, sop_dir, NOW + timedelta(days=1))
        item = plan.changes[0]
        assert item.opens_requirement and item.unchanged_tiers == ["T1"]
        with session_scope(roster) as session:
            for emp in ("N1", "N2", "A1"):
                assert reading_list(session, agent(session, emp), now=NOW + timedelta(days=1)) == []
            # Tier 2 read a different text: asked again, even the one who read v1.0
            owed = [i.sop_id for i in reading_list(session, agent(session, "H1"), now=NOW + timedelta(days=1))]
            assert owed == ["ATO-RECOVERY"]
            # Coverage counts the Tier 1 acknowledgements of the unchanged text for the new version
            new = session.scalars(select(Requirement).where(Requirement.closed_at.is_(None))).one()
            covered = session.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(Assignment.requirement_id == new.id, Assignment.acknowledged_at.is_not(None))
            )
            assert (new.major, covered) == (2, 3)

    def test_a_tier_1_agent_who_still_owed_the_text_keeps_the_old_due_date(self, roster, sop_dir):
        self._first(roster, sop_dir)
        with session_scope(roster) as session:
            old_due = session.scalars(select(Assignment.due_at).join(Agent).where(Agent.employee_id == "N3")).one()
        self._t2_change(roster, sop_dir, NOW + timedelta(days=3))
        with session_scope(roster) as session:
            n3 = reading_list(session, agent(session, "N3"), now=NOW + timedelta(days=3))
            h1 = reading_list(session, agent(session, "H1"), now=NOW + timedelta(days=3))
            assert [i.due_at for i in n3] == [old_due]  # same text, same deadline
            assert h1[0].due_at > old_due  # new text for Tier 2: a new deadline
        # and acknowledging the text now served covers the new version
        ack(roster, "N3", "ATO-RECOVERY", now=NOW + timedelta(days=3))
        with session_scope(roster) as session:
            assert reading_list(session, agent(session, "N3"), now=NOW + timedelta(days=3)) == []

    def test_a_change_no_tier_can_see_opens_nothing_and_keeps_the_open_requirement(self, roster, sop_dir):
        sop_dir.write("T2-NOTES", visibility="t2_only", audience={"tiers": ["T2"]}, body=self.BODY)
        sop_dir.write("ATO-RECOVERY", body=self.BODY, audience={"tiers": ["T1"]})
        run_publish(roster, sop_dir)
        # Only the Tier 2 block changes in an SOP whose audience is Tier 1: nobody reads a new text
        sop_dir.write(
            "ATO-RECOVERY", version="2.0", changelog=bump("2.0"), body=self.T2_EDIT, audience={"tiers": ["T1"]}
        )
        plan = run_publish(roster, sop_dir, now=NOW + timedelta(days=1))
        item = next(i for i in plan.changes if i.sop_id == "ATO-RECOVERY")
        assert (item.action, item.opens_requirement, item.unchanged_tiers, item.closes) == ("major", False, ["T1"], [])
        with session_scope(roster) as session:
            open_ = session.scalars(
                select(Requirement).where(Requirement.sop_id == "ATO-RECOVERY", Requirement.closed_at.is_(None))
            ).one()
            assert open_.major == 1
            # the agent who owed v1.0 acknowledges the text served now (identical for Tier 1): covered
        ack(roster, "N1", "ATO-RECOVERY", now=NOW + timedelta(days=1))
        with session_scope(roster) as session:
            assert reading_list(session, agent(session, "N1"), now=NOW + timedelta(days=1)) == []

    def test_a_change_tier_1_can_see_asks_both_tiers(self, roster, sop_dir):
        self._first(roster, sop_dir)
        ack(roster, "N1", "ATO-RECOVERY")
        sop_dir.write("ATO-RECOVERY", version="2.0", changelog=bump("2.0"), body="## Purpose\n\nNew rule.\n")
        item = run_publish(roster, sop_dir, now=NOW + timedelta(days=1)).changes[0]
        assert item.opens_requirement and item.unchanged_tiers == []
        with session_scope(roster) as session:
            assert [i.sop_id for i in reading_list(session, agent(session, "N1"), now=NOW + timedelta(days=1))] == [
                "ATO-RECOVERY"
            ]
