"""Crisis readiness benchmark: who is ready (certified, every open requirement covered) by vendor,
site and team, and an open bulletin's curve and projection, over 20k agents, 100 requirements
and 200k quiz answers, on SQLite and PostgreSQL; with the coverage and certification reports
over the same data as the peers.

    python bench/readiness.py [--agents 20000] [--requirements 100] [--answers 200000] [--skip-postgres]

PostgreSQL is used when KB_BENCH_POSTGRES_URL (default: the local test server) answers; a scratch
database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import create_engine, insert, text

from kb_app.acks.coverage import CoverageFilter, coverage
from kb_app.acks.crisis import ReadinessFilter, open_bulletins, readiness
from kb_app.db import engine_for, session_scope, upgrade
from kb_app.models import Acknowledgement, Agent, Assignment, PublishedVersion, Requirement, RequirementTarget, User
from kb_app.models.quizzes import (
    Certification,
    CertificationSop,
    QuizAnswer,
    QuizAttempt,
    QuizBankSnapshot,
    UpdateGate,
    UpdateGateDecision,
)
from kb_app.quizzes.reports import certification_coverage
from kb_app.quizzes.schema import Bank
from results import median, table, write_section

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
OPENED = NOW - timedelta(days=200)
VENDORS = [
    ("northwind-bpo", ["manila", "cebu"]),
    ("apex-cx", ["bogota", "krakow"]),
    ("lumen-support", ["cairo", "manila"]),
    ("in-house", ["dublin"]),
]
LANGUAGES = ["en", "es", "pl", "ar", "tl"]
BANKS = {"T1": ["cert-t1"], "T2": ["cert-t2"]}
CERT_SOPS = [f"SOP-{r:03d}" for r in range(1, 11)]
QUESTIONS_PER_ATTEMPT = 10


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def chunked_insert(engine, table_, rows, size=20000) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), size):
            connection.execute(insert(table_), rows[start : start + size])


def _version(r: int, sop_id: str, kind: str, opened: datetime) -> dict:
    return {
        "id": r,
        "sop_id": sop_id,
        "version": "1.0",
        "major": 1,
        "minor": 0,
        "kind": kind,
        "status": "active",
        "visibility": "all",
        "title": f"{sop_id} title",
        "path": f"procedures/{sop_id.lower()}.md",
        "content_hash": f"{r:064x}",
        "tier_hashes": {"T1": f"{r:064x}", "T2": f"{r:064x}"},
        "body": "text",
        "sections": [],
        "audience": {"tiers": ["T1", "T2"]},
        "summary": "",
        "ack_required": True,
        "expires_at": None,
        "published_at": opened,
        "published_by": "bench",
    }


def populate(engine, agents: int, requirements: int, answers: int, seed: int = 11) -> dict[str, int]:
    rng = random.Random(seed)
    progress(f"  {agents} agents and their logins")
    agent_rows, user_rows = [], []
    for i in range(agents):
        vendor, sites = VENDORS[i % len(VENDORS)]
        site = sites[(i // len(VENDORS)) % len(sites)]
        team = f"{site}-{(i // 97) % 12:02d}"
        agent_rows.append(
            {
                "id": i + 1,
                "employee_id": f"E{i:06d}",
                "name": f"Agent {i}",
                "email": f"agent{i}@example.com",
                "tier": "T2" if vendor == "in-house" else "T1",
                "vendor": vendor,
                "site": site,
                "team": team,
                "language": LANGUAGES[i % len(LANGUAGES)],
                "manager": f"Lead {team}",
                "start_date": date(2025, 1, 1),
                "active": i % 50 != 0,
                "created_at": OPENED,
                "updated_at": OPENED,
            }
        )
        user_rows.append(
            {
                "id": i + 1,
                "email": f"agent{i}@example.com",
                "name": "",
                "role": "agent",
                "agent_id": i + 1,
                "session_nonce": "x",
                "active": True,
                "created_at": OPENED,
            }
        )
    chunked_insert(engine, Agent.__table__, agent_rows)
    chunked_insert(engine, User.__table__, user_rows)
    # Most agents keep up with everything; a third miss one in ten.
    diligent = [rng.random() < 0.67 for _ in range(agents)]
    progress(f"  {requirements} requirements (the last an open bulletin) with acknowledgements")
    versions, reqs, targets = [], [], []
    for r in range(1, requirements + 1):
        bulletin = r == requirements
        opened = NOW - timedelta(hours=2) if bulletin else OPENED + timedelta(days=r)
        sop_id = "BUL-WAVE" if bulletin else f"SOP-{r:03d}"
        versions.append(_version(r, sop_id, "bulletin" if bulletin else "sop", opened))
        reqs.append(
            {
                "id": r,
                "version_id": r,
                "sop_id": sop_id,
                "major": 1,
                "minor": 0,
                "opened_at": opened,
                "due_at": opened + (timedelta(hours=4) if bulletin else timedelta(days=7)),
                "closed_at": None,
                "closed_reason": None,
                "is_bulletin": bulletin,
            }
        )
        targets += [{"requirement_id": r, "dimension": "tier", "value": t} for t in ("T1", "T2")]
    chunked_insert(engine, PublishedVersion.__table__, versions)
    chunked_insert(engine, Requirement.__table__, reqs)
    chunked_insert(engine, RequirementTarget.__table__, targets)
    ack_id = 0
    for r in range(1, requirements + 1):
        req = reqs[r - 1]
        bulletin = req["is_bulletin"]
        ack_rows, assignment_rows = [], []
        for a in range(1, agents + 1):
            rate = 0.55 if bulletin else (1.0 if diligent[a - 1] else 0.9)
            acknowledged = None
            if rng.random() < rate:
                ack_id += 1
                spread = 110 if bulletin else 3 * 24 * 60
                acknowledged = req["opened_at"] + timedelta(minutes=rng.uniform(1, spread))
                ack_rows.append(
                    {
                        "id": ack_id,
                        "agent_id": a,
                        "version_id": r,
                        "sop_id": req["sop_id"],
                        "major": 1,
                        "minor": 0,
                        "content_hash": f"{r:064x}",
                        "acknowledged_at": acknowledged,
                        "channel": "web",
                    }
                )
            if acknowledged and bulletin and agent_rows[a - 1]["tier"] == "T1" and rng.random() < 0.2:
                acknowledged = None  # acknowledged, but the bulletin's update quiz is not passed yet
            assignment_rows.append(
                {
                    "requirement_id": r,
                    "agent_id": a,
                    "assigned_at": req["opened_at"],
                    "due_at": req["due_at"],
                    "acknowledged_at": acknowledged,
                    "acknowledgement_id": ack_id if acknowledged else None,
                    "seconds_to_ack": int((acknowledged - req["opened_at"]).total_seconds()) if acknowledged else None,
                }
            )
        chunked_insert(engine, Acknowledgement.__table__, ack_rows)
        chunked_insert(engine, Assignment.__table__, assignment_rows)
        if r % 20 == 0:
            progress(f"  requirement {r}/{requirements}: {ack_id} acknowledgements so far")
    # The bulletin's update quiz gates Tier 1 acknowledgements, as the real bulletin's does.
    chunked_insert(
        engine,
        QuizBankSnapshot.__table__,
        [
            {
                "bank_hash": "b" * 64,
                "bank_id": "update-bul-wave",
                "kind": "update",
                "tier": "T1",
                "title": "update",
                "data": {},
                "first_seen_at": NOW,
            }
        ],
    )
    chunked_insert(
        engine,
        UpdateGateDecision.__table__,
        [{"version_id": requirements, "sop_id": "BUL-WAVE", "version": "1.0", "decided_at": NOW - timedelta(hours=2)}],
    )
    chunked_insert(
        engine,
        UpdateGate.__table__,
        [{"version_id": requirements, "bank_id": "update-bul-wave", "bank_hash": "b" * 64, "tier": "T1"}],
    )
    attempts = max(answers // QUESTIONS_PER_ATTEMPT, 1)
    progress(f"  {attempts} certification attempts, {attempts * QUESTIONS_PER_ATTEMPT} answers")
    chunked_insert(
        engine,
        QuizBankSnapshot.__table__,
        [
            {
                "bank_hash": f"{bank_id:0>64}"[-64:],
                "bank_id": bank_id,
                "kind": "certification",
                "tier": tier,
                "title": bank_id,
                "data": {},
                "first_seen_at": OPENED,
            }
            for tier, [bank_id] in BANKS.items()
        ],
    )
    attempt_rows, answer_rows, cert_rows, cert_sop_rows = [], [], [], []
    for n in range(1, attempts + 1):
        agent = agent_rows[(n - 1) % agents]
        bank_id = BANKS[agent["tier"]][0]
        started = NOW - timedelta(days=rng.uniform(1, 420))
        passed = rng.random() < 0.9
        attempt_rows.append(
            {
                "id": n,
                "public_id": uuid.UUID(int=n).hex,
                "user_id": agent["id"],
                "agent_id": agent["id"],
                "bank_id": bank_id,
                "bank_hash": f"{bank_id:0>64}"[-64:],
                "kind": "certification",
                "sop_version": None,
                "seed": str(n),
                "drawn": {},
                "pass_mark": 80,
                "started_at": started,
                "deadline": started + timedelta(minutes=20),
                "status": "submitted",
                "submitted_at": started + timedelta(minutes=9),
                "submission": {},
                "score": 9.0 if passed else 5.0,
                "max_score": QUESTIONS_PER_ATTEMPT,
                "percent": 90.0 if passed else 50.0,
                "passed": passed,
            }
        )
        for q in range(QUESTIONS_PER_ATTEMPT):
            right = rng.random() < (0.9 if passed else 0.5)
            answer_rows.append(
                {
                    "attempt_id": n,
                    "bank_id": bank_id,
                    "question_key": f"q{q + 1}",
                    "question_id": f"{bank_id}-q{rng.randrange(40)}",
                    "question_type": "single",
                    "source": f"{CERT_SOPS[q]}#steps",
                    "answered": True,
                    "points_earned": 1.0 if right else 0.0,
                    "points_max": 1,
                    "fraction": 1.0 if right else 0.0,
                    "correct": right,
                }
            )
        if passed:
            certified = started + timedelta(minutes=9)
            cert_rows.append(
                {
                    "id": len(cert_rows) + 1,
                    "agent_id": agent["id"],
                    "bank_id": bank_id,
                    "bank_hash": f"{bank_id:0>64}"[-64:],
                    "attempt_id": n,
                    "certified_at": certified,
                    "expires_at": certified + timedelta(days=365),
                }
            )
            cert_sop_rows += [
                {"certification_id": len(cert_rows), "sop_id": sop_id, "major_at_pass": 1} for sop_id in CERT_SOPS
            ]
    chunked_insert(engine, QuizAttempt.__table__, attempt_rows, size=5000)
    chunked_insert(engine, QuizAnswer.__table__, answer_rows)
    chunked_insert(engine, Certification.__table__, cert_rows)
    chunked_insert(engine, CertificationSop.__table__, cert_sop_rows)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return {
        "acknowledgements": ack_id,
        "attempts": attempts,
        "answers": len(answer_rows),
        "certifications": len(cert_rows),
    }


def _bank(tier: str) -> Bank:
    [bank_id] = BANKS[tier]
    question = {
        "id": "q1",
        "type": "true_false",
        "stem": "A question?",
        "answer": True,
        "source": "SOP-001#steps",
        "explanation": "Because.",
    }
    return Bank.model_validate(
        {
            "id": bank_id,
            "title": bank_id,
            "kind": "certification",
            "tier": tier,
            "sops": CERT_SOPS,
            "pass_mark": 80,
            "questions_per_attempt": 1,
            "time_limit_minutes": 20,
            "attempts_per_day": 3,
            "cooldown_hours": 24,
            "review_shows_answers": True,
            "valid_days": 365,
            "questions": [question],
        }
    )


REPORTS = [
    (
        "readiness by vendor, site, team",
        lambda s: readiness(s, by=["vendor", "site", "team"], now=NOW, certification_banks=BANKS),
    ),
    ("readiness by vendor, site", lambda s: readiness(s, by=["vendor", "site"], now=NOW, certification_banks=BANKS)),
    (
        "readiness of one vendor by team",
        lambda s: readiness(s, by=["team"], now=NOW, certification_banks=BANKS, flt=ReadinessFilter(vendor="apex-cx")),
    ),
    ("open bulletin: curve and projection by vendor", lambda s: open_bulletins(s, now=NOW)),
    (
        "peer: certification coverage (T1) by vendor, site",
        lambda s: certification_coverage(s, _bank("T1"), by=["vendor", "site"], now=NOW, due_days=7),
    ),
    (
        "peer: coverage of the bulletin by vendor, site",
        lambda s: coverage(s, by=["vendor", "site"], now=NOW, flt=CoverageFilter(sop_id="BUL-WAVE")),
    ),
]


def time_reports(engine, repeats: int = 3) -> list[tuple[str, float]]:
    out = []
    for label, report in REPORTS:
        samples = []
        for _ in range(repeats):
            with session_scope(engine) as session:
                start = time.perf_counter()
                report(session)
                samples.append(time.perf_counter() - start)
        out.append((label, median(samples) * 1000))
        progress(f"  {label}: {out[-1][1]:.0f} ms")
    return out


def bench_database(name: str, url: str, args) -> tuple[list[tuple[str, float]], float, dict[str, int]]:
    progress(f"{name}: creating schema and data")
    engine = engine_for(url)
    upgrade(engine)
    start = time.perf_counter()
    counts = populate(engine, args.agents, args.requirements, args.answers)
    load_seconds = time.perf_counter() - start
    progress(f"{name}: loaded in {load_seconds:.0f} s; timing reports")
    with session_scope(engine) as session:
        [ready] = readiness(session, by=[], now=NOW, certification_banks=BANKS)
        counts["ready"], counts["headcount"] = ready.ready, ready.headcount
    timings = time_reports(engine)
    engine.dispose()
    return timings, load_seconds, counts


def postgres_scratch(base_url: str):
    name = f"kb_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = base_url.rsplit("/", 1)[0] + f"/{name}"

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return url, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=20000)
    parser.add_argument("--requirements", type=int, default=100)
    parser.add_argument("--answers", type=int, default=200000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = bench_database("SQLite", f"sqlite:///{tmp}/bench.sqlite3", args)
    if not args.skip_postgres:
        base = os.environ.get("KB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        try:
            url, drop = postgres_scratch(base)
        except Exception as error:  # noqa: BLE001 - report and go on with SQLite only
            progress(f"PostgreSQL not reachable ({error}); skipping it")
        else:
            try:
                results["PostgreSQL"] = bench_database("PostgreSQL", url, args)
            finally:
                drop()
    names = list(results)
    rows = [[label] + [f"{dict(results[n][0])[label]:.0f}" for n in names] for label, _ in REPORTS]
    first = results[names[0]][2]
    body = [
        f"{args.agents:,} agents, {args.requirements} open requirements (the last a 4-hour bulletin opened two"
        f" hours before), {first['acknowledgements']:,} acknowledgements, {first['attempts']:,} certification"
        f" attempts with {first['answers']:,} answers and {first['certifications']:,} certifications; "
        + ", ".join(f"loaded in {results[n][1]:.0f} s on {n}" for n in names)
        + f". {first['ready']:,} of {first['headcount']:,} active agents ready. Median of 3 runs, milliseconds."
        " Readiness is one SQL query per table (per agent: certification of their tier, an uncovered open"
        " requirement, one not even acknowledged; counted by group); the bulletin is three (the open"
        " bulletins, counts by vendor, the curve). The peers are the existing reports over the same data.",
        "",
        table(["report"] + [f"{n} ms" for n in names], rows),
    ]
    text_body = "\n".join(body)
    print(text_body)
    if not args.no_write:
        write_section("Crisis readiness (issue 14)", text_body)


if __name__ == "__main__":
    main()
