"""Quiz reports: item analysis checked against a brute-force computation over the stored
answers, flags, vendor and language scopes, pass rates and certification coverage."""

from __future__ import annotations

import math
import random
import statistics
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kb_app.quizzes import attempts
from kb_app.quizzes import reports as quiz_reports
from kb_app.catalog import load_catalog
from kb_app.models.quizzes import QuizAnswer, QuizAnswerChoice, QuizAttempt
from kb_app.acks.publishing import publish
from kb_app.quizzes.reports import ReportFilter
from tests.quizzes.factories import answers_for, make_bank

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
VENDORS = {"northwind-bpo": "en", "apex-cx": "es"}


def take(session, user, bank, now, wrong_keys=frozenset(), right=True):
    attempt = attempts.start_attempt(session, user, bank, now=now).attempt
    submission = answers_for(bank, attempt.drawn, right=right, wrong_keys=set(wrong_keys))
    attempts.submit_attempt(session, user, attempt.public_id, submission, now=now + timedelta(minutes=2))
    return attempt


def simulate(session, make_user, sop_dir, *, per_attempt: int, ability_of) -> tuple:
    """24 agents at two vendors take a 5-question bank twice. "team" (short answer) is hard for
    everyone and "screenshots" easy for everyone; the rest are answered right with the agent's
    ability, so that the statistics have something to measure."""
    sop_dir.write("ATO-RECOVERY")
    publish(session, load_catalog(sop_dir.root), now=T0 - timedelta(days=1), by="test")
    session.commit()
    bank = make_bank("cert-t1", questions_per_attempt=per_attempt, cooldown_hours=0, attempts_per_day=10, pass_mark=60)
    rng = random.Random(11)
    users = []
    for index in range(24):
        vendor = list(VENDORS)[index % 2]
        users.append(make_user("agent", vendor=vendor, language=VENDORS[vendor], site=f"site-{index % 3}"))
    for index, user in enumerate(users):
        for round_ in range(2):
            now = T0 + timedelta(hours=index, minutes=10 * round_)
            attempt = attempts.start_attempt(session, user, bank, now=now, seed=f"{index}-{round_}").attempt
            wrong = set()
            for q in attempt.drawn["questions"]:
                chance = {"team": 0.15, "screenshots": 0.97}.get(q["question_id"], ability_of(index))
                if rng.random() > chance:
                    wrong.add(q["key"])
            submission = answers_for(bank, attempt.drawn, wrong_keys=wrong)
            for q in attempt.drawn["questions"]:
                if q["question_id"] == "signals" and q["key"] in wrong and rng.random() < 0.5:
                    # Half right: one of the two right options, so partial credit (0.5) appears.
                    labels = dict(zip("abcdefghijkl", q["order"]))
                    submission[q["key"]] = [
                        next(ln for ln, oid in labels.items() if bank.question("signals").option(oid).is_correct)
                    ]
            attempts.submit_attempt(session, user, attempt.public_id, submission, now=now + timedelta(minutes=2))
    session.commit()
    return bank, users


@pytest.fixture
def population(session, make_user, sop_dir):
    """Three questions drawn per attempt; abilities spread evenly."""
    return simulate(session, make_user, sop_dir, per_attempt=3, ability_of=lambda index: (index + 1) / 25)


@pytest.fixture
def two_groups(session, make_user, sop_dir):
    """Every question in every attempt; half the agents know the SOP, half do not."""
    return simulate(session, make_user, sop_dir, per_attempt=5, ability_of=lambda index: 0.95 if index < 12 else 0.1)


def brute_force(session, bank_id, vendor=None):
    """Moodle's statistics computed the slow way, answer by answer."""
    query = (
        select(QuizAnswer.question_id, QuizAnswer.fraction, QuizAnswer.points_earned, QuizAttempt.score, QuizAttempt.id)
        .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
        .where(QuizAttempt.bank_id == bank_id, QuizAttempt.status == "submitted")
    )
    if vendor:
        from kb_app.models import Agent

        query = query.join(Agent, Agent.id == QuizAttempt.agent_id).where(Agent.vendor == vendor)
    rows = session.execute(query).all()
    by_item: dict[str, list] = {}
    totals: dict[int, float] = {}
    for question_id, x, points, score, attempt_id in rows:
        by_item.setdefault(question_id, []).append((x, score - points, points))
        totals[attempt_id] = score
    expected = {}
    for question_id, values in by_item.items():
        xs = [v[0] for v in values]
        rs = [v[1] for v in values]
        n = len(values)
        mean_x, mean_r = statistics.fmean(xs), statistics.fmean(rs)
        cov = sum((a - mean_x) * (b - mean_r) for a, b in zip(xs, rs)) / n
        cov_max = sum(a * b for a, b in zip(sorted(xs), sorted(rs))) / n - mean_x * mean_r
        sd_x, sd_r = statistics.pstdev(xs), statistics.pstdev(rs)
        expected[question_id] = {
            "n": n,
            "facility": mean_x,
            "discrimination": cov / (sd_x * sd_r) if sd_x and sd_r else None,
            "efficiency": cov / cov_max if cov_max > 1e-12 else None,
            "item_variance": statistics.variance([v[2] for v in values]),
        }
    n_attempts = len(totals)
    k = len(rows) / n_attempts
    weighted = sum(e["n"] / n_attempts * e["item_variance"] for e in expected.values())
    alpha = k / (k - 1) * (1 - weighted / statistics.variance(totals.values()))
    return expected, alpha, n_attempts


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


class TestItemAnalysis:
    def test_statistics_match_a_brute_force_computation(self, session, population):
        bank, _ = population
        [analysis] = quiz_reports.item_analysis(session, bank)
        expected, alpha, n_attempts = brute_force(session, bank.id)
        assert analysis.attempts == n_attempts == 48 and analysis.agents == 24
        assert analysis.questions_per_attempt == 3
        assert close(analysis.alpha, alpha)
        assert {item.question_id for item in analysis.items} == set(expected)
        fractions = set(session.scalars(select(QuizAnswer.fraction).where(QuizAnswer.question_id == "signals")))
        assert fractions == {0.0, 0.5, 1.0}  # partial credit is part of the check
        for item in analysis.items:
            want = expected[item.question_id]
            assert item.n == want["n"]
            assert close(item.facility, want["facility"])
            assert close(item.discrimination, want["discrimination"]), item.question_id
            assert close(item.efficiency, want["efficiency"]), item.question_id
        # Items come in bank order, each linked to the SOP section it cites on the built site.
        assert [i.question_id for i in analysis.items] == [q.id for q in bank.questions if q.id in expected]
        assert analysis.items[0].url == "/sop/procedures/ato-recovery/#" + analysis.items[0].source.split("#")[1]

    def test_questions_are_flagged_too_easy_too_hard_or_not_discriminating(self, session, two_groups):
        bank, _ = two_groups
        [analysis] = quiz_reports.item_analysis(session, bank)
        flags = {item.question_id: item.flags for item in analysis.items}
        assert "too_easy" in flags["screenshots"]
        assert "too_hard" in flags["team"]
        # Answered by chance, not by ability: the rest of the test says little about it.
        assert {"low_discrimination", "negative_discrimination"} & set(flags["team"]) or flags["team"] == ["too_hard"]
        ability_items = [i for i in analysis.items if i.question_id not in ("team", "screenshots")]
        assert all(i.discrimination > 0.5 and i.efficiency > 0.5 and not i.flags for i in ability_items)
        assert analysis.alpha > 0.5
        assert {f for fs in flags.values() for f in fs} <= {
            "too_easy",
            "too_hard",
            "low_discrimination",
            "negative_discrimination",
        }

    def test_option_counts_add_up_to_what_was_chosen(self, session, population):
        bank, _ = population
        [analysis] = quiz_reports.item_analysis(session, bank)
        stored = session.execute(
            select(QuizAnswer.question_id, QuizAnswerChoice.choice).join(
                QuizAnswerChoice, QuizAnswerChoice.answer_id == QuizAnswer.id
            )
        ).all()
        for item in analysis.items:
            mine = [choice for question_id, choice in stored if question_id == item.question_id]
            shown = {o.choice: o.count for o in item.options}
            if item.type in ("single", "multiple", "true_false"):
                assert sum(shown.values()) == len(mine)
                assert all(shown[c] == mine.count(c) for c in set(mine))
                assert any(o.correct for o in item.options)
            if item.type == "ordering":
                right = [o for o in item.options if o.correct]
                assert right and right[0].label == " → ".join(bank.question("order").items)

    def test_by_vendor_and_language_and_a_vendor_scope(self, session, population):
        bank, _ = population
        by_vendor = quiz_reports.item_analysis(session, bank, by="vendor")
        assert [a.group for a in by_vendor] == [{"vendor": "apex-cx"}, {"vendor": "northwind-bpo"}]
        assert sum(a.attempts for a in by_vendor) == 48
        by_language = quiz_reports.item_analysis(session, bank, by="language")
        assert {a.group["language"] for a in by_language} == {"en", "es"}
        [scoped] = quiz_reports.item_analysis(session, bank, flt=ReportFilter(vendor="apex-cx"))
        expected, alpha, n_attempts = brute_force(session, bank.id, vendor="apex-cx")
        assert scoped.attempts == n_attempts == 24 and close(scoped.alpha, alpha)
        apex = next(a for a in by_vendor if a.group == {"vendor": "apex-cx"})
        for mine, theirs in zip(apex.items, scoped.items):
            assert mine.question_id == theirs.question_id and close(mine.discrimination, theirs.discrimination)
        with pytest.raises(quiz_reports.QuizReportError):
            quiz_reports.item_analysis(session, bank, by="site")

    def test_a_bank_nobody_took_has_an_empty_analysis(self, session):
        [analysis] = quiz_reports.item_analysis(session, make_bank("unused"))
        assert analysis.attempts == 0 and analysis.items == [] and analysis.alpha is None


class TestPassRates:
    def test_pass_rates_and_first_attempt_pass_rates(self, session, make_user):
        bank = make_bank("cert-t1", cooldown_hours=0)
        first, second = make_user("agent"), make_user("agent", vendor="apex-cx")
        take(session, first, bank, T0, right=False)
        take(session, first, bank, T0 + timedelta(hours=1))
        take(session, second, bank, T0)
        session.commit()
        [overall] = quiz_reports.pass_rates(session, by=[])
        assert (overall.attempts, overall.agents, overall.passed, overall.agents_passed) == (3, 2, 2, 2)
        assert overall.first_attempt_pass_rate == 0.5 and round(overall.pass_rate, 3) == 0.667
        rows = {r.group["vendor"]: r for r in quiz_reports.pass_rates(session, by=["vendor"])}
        assert rows["apex-cx"].pass_rate == 1.0 and rows["northwind-bpo"].first_attempt_pass_rate == 0.0
        [only] = quiz_reports.pass_rates(session, by=["vendor"], flt=ReportFilter(vendor="apex-cx"))
        assert only.group == {"bank_id": "cert-t1", "vendor": "apex-cx"}


class TestCertificationCoverage:
    def test_states_by_vendor_are_counted_in_sql(self, session, make_user, sop_dir):
        sop_dir.write("ATO-RECOVERY", version="1.0")
        publish(session, load_catalog(sop_dir.root), now=T0, by="test")
        session.commit()
        bank = make_bank("cert-t1", valid_days=60, cooldown_hours=0)
        users = {
            name: make_user("agent", vendor=vendor)
            for name, vendor in [
                ("valid", "northwind-bpo"),
                ("expiring", "northwind-bpo"),
                ("due", "apex-cx"),
                ("never", "apex-cx"),
                ("expired", "apex-cx"),
            ]
        }
        make_user("agent", tier="T2", vendor="in-house")  # another tier: not in this bank's population
        make_user("agent", active=False)  # left: not counted
        take(session, users["expired"], bank, T0 - timedelta(days=90))
        take(session, users["due"], bank, T0 + timedelta(days=1))
        take(session, users["expiring"], bank, T0 + timedelta(days=2))
        session.commit()
        sop_dir.write(
            "ATO-RECOVERY", version="2.0", body="## Purpose {#purpose}\n\nNew.\n\n## Steps {#steps}\n\n1. New.\n"
        )
        publish(session, load_catalog(sop_dir.root), now=T0 + timedelta(days=10), by="test")
        # The last one passes after the major, so it stays valid.
        take(session, users["valid"], bank, T0 + timedelta(days=40))
        session.commit()
        now = T0 + timedelta(days=45)
        rows = {
            r.group["vendor"]: r
            for r in quiz_reports.certification_coverage(session, bank, by=["vendor"], now=now, due_days=7)
        }
        nw, apex = rows["northwind-bpo"], rows["apex-cx"]
        assert (nw.population, nw.valid, nw.expiring, nw.certified) == (2, 1, 0, 1)
        # "expiring" passed on day 2 but a major came on day 10: recertification due (and overdue by day 45).
        assert (nw.recertification_due, nw.recertification_overdue) == (1, 1)
        assert (apex.population, apex.recertification_due, apex.never, apex.expired) == (3, 1, 1, 1)
        [total] = quiz_reports.certification_coverage(session, bank, by=[], now=now, due_days=7)
        assert total.population == 5 and total.percent_certified == 20.0
        [scoped] = quiz_reports.certification_coverage(
            session, bank, by=["site"], now=now, due_days=7, flt=ReportFilter(vendor="apex-cx")
        )
        assert scoped.population == 3
        # Before the major: the day-2 pass is valid and expiring soon (60-day validity).
        early = {
            r.group["vendor"]: r
            for r in quiz_reports.certification_coverage(
                session, bank, by=["vendor"], now=T0 + timedelta(days=35), due_days=7
            )
        }
        assert early["northwind-bpo"].recertification_due == 1  # the major at day 10 already counts
        before_major = quiz_reports.certification_coverage(
            session, bank, by=["vendor"], now=T0 + timedelta(days=5), due_days=7
        )
        assert {r.group["vendor"]: r.certified for r in before_major} == {"apex-cx": 1, "northwind-bpo": 1}
