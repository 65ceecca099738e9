"""Gaps benchmark: the gaps page (every signal: searches, quiz items, flags, acknowledgement lag,
overdue clusters, review dates) over 20k agents, 100 requirements, 200k quiz answers and 1M
logged searches, on SQLite and PostgreSQL, beside the coverage report by vendor and site over the
same data as the peer measured in the same run.

    python bench/gaps.py [--agents 20000] [--requirements 100] [--answers 200000] [--searches 1000000]
                         [--skip-postgres] [--no-write]

Data is written with bulk inserts; a year of history (requirements, answers, searches spread
over 365 days), the page counts the last 28 days. Timed: `find_gaps` (the core) and GET /gaps
through the Flask test client as a trainer (query, matching queries to sections on a real
Whoosh index of the repository's SOPs, rendering): the first request (matcher cache cold) and
the median of the next 5, with the gaps computed on every request (KB_CACHE_SECONDS=0) and with
the default reuse of computed gaps for 30 s. PostgreSQL is used when KB_BENCH_POSTGRES_URL (default: the local test
server) answers; a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]

from kb_app import users  # noqa: E402
from kb_app.acks.coverage import coverage  # noqa: E402
from kb_app.catalog import load_catalog  # noqa: E402
from kb_app.config import Settings  # noqa: E402
from kb_app.db import engine_for, session_scope, upgrade  # noqa: E402
from kb_app.improvement import gaps  # noqa: E402
from kb_app.models import Agent, Assignment, PublishedVersion, Requirement, RequirementTarget, User  # noqa: E402
from kb_app.models.improvement import FeedbackFlag  # noqa: E402
from kb_app.models.quizzes import QuizAnswer, QuizAttempt, QuizBankSnapshot  # noqa: E402
from kb_app.models.search_log import SearchClick, SearchQuery  # noqa: E402
from kb_app.search import SearchService, build_index  # noqa: E402
from kb_app.search_log import week_of  # noqa: E402
from results import median, table, write_section  # noqa: E402

NOW = datetime.now(timezone.utc).replace(microsecond=0)
YEAR = timedelta(days=365)
VENDORS = [
    ("northwind-bpo", ["manila", "cebu"]),
    ("apex-cx", ["bogota", "krakow"]),
    ("lumen-support", ["cairo", "manila"]),
    ("in-house", ["dublin"]),
]
ANCHORS = ["purpose", "verify", "steps", "escalate", "close"]
WORDS = [
    *[
        "hacked",
        "account",
        "sim",
        "swap",
        "2fa",
        "reset",
        "recovery",
        "email",
        "changed",
        "phone",
        "lost",
        "code",
        "never",
        "arrives",
        "locked",
    ],
    *[
        "suspicious",
        "login",
        "device",
        "passkey",
        "backup",
        "codes",
        "takeover",
        "refund",
        "wallet",
        "crypto",
        "port",
        "out",
    ],
]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def chunked(engine, table_, rows, size=20000) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), size):
            connection.execute(insert(table_), rows[start : start + size])


def populate(engine, n_agents: int, n_requirements: int, n_answers: int, n_searches: int, seed: int = 14) -> dict:
    rng = random.Random(seed)
    counts = {}
    progress(f"  {n_agents} agents")
    agents = []
    for i in range(n_agents):
        vendor, sites = VENDORS[i % len(VENDORS)]
        site = sites[(i // len(VENDORS)) % len(sites)]
        agents.append(
            {
                "id": i + 1,
                "employee_id": f"G{i:06d}",
                "name": f"Agent {i}",
                "email": f"g{i}@example.com",
                "tier": "T2" if vendor == "in-house" else "T1",
                "vendor": vendor,
                "site": site,
                "team": f"{site}-{(i // 97) % 12:02d}",
                "language": "en",
                "manager": "Lead",
                "start_date": date(2025, 1, 1),
                "active": i % 50 != 0,
                "created_at": NOW - YEAR,
                "updated_at": NOW - YEAR,
            }
        )
    chunked(engine, Agent.__table__, agents)
    site_speed = {site: rng.uniform(0.5, 1.5) for _, sites in VENDORS for site in sites}
    site_speed["krakow"] = 6.0  # one slow site: an acknowledgement-lag outlier

    progress(f"  {n_requirements} published versions and requirements")
    versions, requirements, targets = [], [], []
    for r in range(1, n_requirements + 1):
        opened = NOW - YEAR + timedelta(days=365 * r / n_requirements) - timedelta(days=3)
        sop_id = f"SOP-{r:03d}"
        versions.append(
            {
                "id": r,
                "sop_id": sop_id,
                "version": "1.0",
                "major": 1,
                "minor": 0,
                "kind": "sop",
                "status": "active",
                "visibility": "t2_only" if r % 10 == 0 else "all",
                "title": f"SOP {r}",
                "path": f"procedures/sop-{r:03d}.md",
                "content_hash": f"{r:064x}",
                "tier_hashes": {"T1": f"{r:064x}", "T2": f"{r:064x}"},
                "body": "\n\n".join(f"## {a.title()} {{#{a}}}\n\nText of {a}." for a in ANCHORS),
                "sections": [
                    {"anchor": a, "heading": a.title(), "level": 2, "text": f"Text of {a}.", "line": 1} for a in ANCHORS
                ],
                "audience": {"tiers": ["T1", "T2"]},
                "summary": "",
                "ack_required": True,
                "expires_at": None,
                "published_at": opened,
                "published_by": "bench",
            }
        )
        requirements.append(
            {
                "id": r,
                "version_id": r,
                "sop_id": sop_id,
                "major": 1,
                "minor": 0,
                "opened_at": opened,
                "due_at": opened + timedelta(days=7),
                "closed_at": None,
                "closed_reason": None,
                "is_bulletin": False,
            }
        )
        targets += [{"requirement_id": r, "dimension": "tier", "value": t} for t in ("T1", "T2")]
    chunked(engine, PublishedVersion.__table__, versions)
    chunked(engine, Requirement.__table__, requirements)
    chunked(engine, RequirementTarget.__table__, targets)
    assignments = 0
    for req in requirements:
        rows = []
        for agent in agents:
            acked = None
            if rng.random() < 0.8:
                acked = req["opened_at"] + timedelta(minutes=rng.expovariate(1 / (600 * site_speed[agent["site"]])))
                if acked > NOW:
                    acked = None
            rows.append(
                {
                    "requirement_id": req["id"],
                    "agent_id": agent["id"],
                    "assigned_at": req["opened_at"],
                    "due_at": req["due_at"],
                    "acknowledged_at": acked,
                    "acknowledgement_id": None,
                    "seconds_to_ack": int((acked - req["opened_at"]).total_seconds()) if acked else None,
                }
            )
        chunked(engine, Assignment.__table__, rows)
        assignments += len(rows)
        if req["id"] % 20 == 0:
            progress(f"    requirement {req['id']}: {assignments} assignments")
    counts["assignments"] = assignments

    progress(f"  {n_answers} quiz answers")
    bank_hash = secrets.token_hex(32)
    chunked(
        engine,
        QuizBankSnapshot.__table__,
        [
            {
                "bank_hash": bank_hash,
                "bank_id": "cert-bench",
                "kind": "certification",
                "tier": "T1",
                "title": "Bench",
                "data": {},
                "first_seen_at": NOW - YEAR,
            }
        ],
    )
    user_rows = [
        {
            "id": i + 1,
            "email": f"u{i}@example.com",
            "name": "",
            "role": "agent",
            "vendor": None,
            "agent_id": agents[i]["id"],
            "password_hash": None,
            "session_nonce": "x",
            "active": True,
            "created_at": NOW - YEAR,
            "last_login_at": None,
        }
        for i in range(min(n_agents, 2000))
    ]
    chunked(engine, User.__table__, user_rows)
    questions = [
        (f"q{k:03d}", f"SOP-{1 + k % n_requirements:03d}#{ANCHORS[k % len(ANCHORS)]}", rng.gauss(0, 1.2))
        for k in range(300)
    ]
    per_attempt = 15
    attempts, answers = [], []
    for a in range(n_answers // per_attempt):
        agent = agents[rng.randrange(len(user_rows))]
        submitted = NOW - timedelta(seconds=rng.uniform(0, YEAR.total_seconds()))
        ability = rng.gauss(0.8, 1.0)
        drawn = rng.sample(questions, per_attempt)
        right = [rng.random() < 1 / (1 + 2.718 ** (difficulty - ability)) for _, _, difficulty in drawn]
        score = sum(right)
        attempts.append(
            {
                "id": a + 1,
                "public_id": uuid.uuid4().hex,
                "user_id": agent["id"],
                "agent_id": agent["id"],
                "bank_id": "cert-bench",
                "bank_hash": bank_hash,
                "kind": "certification",
                "sop_version": None,
                "seed": "s",
                "drawn": {},
                "pass_mark": 11,
                "started_at": submitted - timedelta(minutes=20),
                "deadline": submitted + timedelta(minutes=10),
                "status": "submitted",
                "submitted_at": submitted,
                "submission": {},
                "score": float(score),
                "max_score": per_attempt,
                "percent": 100.0 * score / per_attempt,
                "passed": score >= 11,
            }
        )
        for k, ((qid, source, _), ok) in enumerate(zip(drawn, right)):
            answers.append(
                {
                    "attempt_id": a + 1,
                    "bank_id": "cert-bench",
                    "question_key": f"q{k + 1}",
                    "question_id": qid,
                    "question_type": "single",
                    "source": source,
                    "answered": True,
                    "points_earned": 1.0 if ok else 0.0,
                    "points_max": 1,
                    "fraction": 1.0 if ok else 0.0,
                    "correct": ok,
                }
            )
    chunked(engine, QuizAttempt.__table__, attempts)
    chunked(engine, QuizAnswer.__table__, answers)
    counts["answers"] = len(answers)

    progress(f"  {n_searches} searches")
    vocabulary = [" ".join(rng.sample(WORDS, rng.randint(1, 3))) for _ in range(2000)]
    zero_queries = set(rng.sample(vocabulary, 200))
    search_id, click_id = 0, 0
    for start in range(0, n_searches, 100000):
        searches, clicks = [], []
        for _ in range(min(100000, n_searches - start)):
            search_id += 1
            query = (
                vocabulary[min(int(rng.paretovariate(1.2)) - 1, len(vocabulary) - 1)]
                if rng.random() < 0.7
                else rng.choice(vocabulary)
            )
            when = NOW - timedelta(seconds=rng.uniform(0, YEAR.total_seconds()))
            zero = query in zero_queries and rng.random() < 0.8
            vendor = VENDORS[search_id % len(VENDORS)][0]
            searches.append(
                {
                    "id": search_id,
                    "searched_at": when,
                    "week_start": week_of(when),
                    "query": query,
                    "filters": "",
                    "tier": "T2" if vendor == "in-house" else "T1",
                    "role": "agent",
                    "vendor": vendor,
                    "result_count": 0 if zero else rng.randint(1, 30),
                }
            )
            if not zero and rng.random() < 0.4:
                click_id += 1
                clicks.append(
                    {
                        "id": click_id,
                        "search_id": search_id,
                        "clicked_at": when + timedelta(seconds=5),
                        "sop_id": "SOP-001",
                        "target": "/sop/procedures/sop-001/#steps",
                        "rank": 1,
                    }
                )
        chunked(engine, SearchQuery.__table__, searches)
        chunked(engine, SearchClick.__table__, clicks)
    counts["searches"], counts["clicks"] = search_id, click_id

    flags = []
    for _ in range(2000):
        agent = agents[rng.randrange(len(user_rows))]
        r = 1 + int(rng.paretovariate(1.5)) % n_requirements
        flags.append(
            {
                "created_at": NOW - timedelta(seconds=rng.uniform(0, YEAR.total_seconds())),
                "user_id": agent["id"],
                "version_id": r,
                "sop_id": f"SOP-{r:03d}",
                "version": "1.0",
                "anchor": rng.choice(ANCHORS),
                "section_title": "Steps",
                "kind": rng.choice(["unclear", "outdated", "wrong", "missing_step"]),
                "comment": "bench",
                "tier": agent["tier"],
                "vendor": agent["vendor"],
                "site": agent["site"],
                "status": "open",
                "answer": "",
                "triaged_by": "",
                "triaged_at": None,
                "action_id": None,
            }
        )
    chunked(engine, FeedbackFlag.__table__, flags)
    counts["flags"] = len(flags)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for name in (
                "agents",
                "published_versions",
                "requirements",
                "quiz_attempts",
                "search_queries",
                "search_clicks",
                "users",
            ):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
        connection.execute(text("ANALYZE"))
    return counts


def timed(fn, repeats: int = 5) -> tuple[float, float]:
    """(first call ms, median of the next `repeats` ms)."""
    start = time.perf_counter()
    fn()
    first = (time.perf_counter() - start) * 1000
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return first, median(samples)


def bench_database(name: str, url: str, args, index_dir: Path, tmp: Path) -> dict:
    from kb_app.web import create_app

    progress(f"{name}: schema and data")
    engine = engine_for(url)
    upgrade(engine)
    start = time.perf_counter()
    counts = populate(engine, args.agents, args.requirements, args.answers, args.searches)
    counts["load_s"] = time.perf_counter() - start
    progress(f"{name}: loaded in {counts['load_s']:.0f} s; timing")
    sops = list(load_catalog(ROOT / "sop").sops.values())
    matcher = gaps.search_matcher(SearchService(index_dir))
    query = gaps.GapQuery(since=NOW - timedelta(days=28), now=NOW)
    found: list = []

    def core():
        with session_scope(engine) as session:
            found[:] = gaps.find_gaps(session, query, matcher=matcher, sops=sops)

    results = {"core": timed(core)}
    counts["gaps"] = len(found)
    with session_scope(engine) as session:
        users.create_user(session, email="trainer@bench.example", role="trainer", password="bench-password-1")
    base = Settings(
        root=tmp,
        sop_dir=ROOT / "sop",
        quiz_dir=ROOT / "quizzes",
        var_dir=tmp / "var",
        index_dir=index_dir,
        site_dir=tmp / "site",
        database_url=url,
        secret_key="bench",
    )
    apps = []
    for key, cache_seconds in (("page", 0), ("cached", 30)):
        app = create_app(
            base.replace(cache_seconds=cache_seconds),
            test_config={"TESTING": True, "REQUEST_LOG": False, "WTF_CSRF_ENABLED": False},
        )
        apps.append(app)
        client = app.test_client()
        signed = client.post("/login", data={"identifier": "trainer@bench.example", "password": "bench-password-1"})
        assert signed.status_code == 302, signed.status_code

        def page(client=client):
            response = client.get("/gaps")
            assert response.status_code == 200, response.status_code

        results[key] = timed(page)

    def peer():
        with session_scope(engine) as session:
            coverage(session, by=["vendor", "site"], now=NOW)

    results["peer"] = timed(peer, repeats=2)
    for app in apps:
        app.extensions["kb_engine"].dispose()
    engine.dispose()
    return {"counts": counts, "results": results}


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
    parser.add_argument("--searches", type=int, default=1000000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = parser.parse_args()

    out = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        index_dir = tmp / "index"
        build_index(ROOT / "sop", index_dir)
        out["SQLite"] = bench_database("SQLite", f"sqlite:///{tmp}/bench.sqlite3", args, index_dir, tmp)
        if not args.skip_postgres:
            base = os.environ.get("KB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
            try:
                url, drop = postgres_scratch(base)
            except Exception as error:  # noqa: BLE001 - report and go on with SQLite only
                progress(f"PostgreSQL not reachable ({error}); skipping it")
            else:
                try:
                    out["PostgreSQL"] = bench_database("PostgreSQL", url, args, index_dir, tmp)
                finally:
                    drop()

    names = list(out)
    first = out[names[0]]["counts"]
    labels = [
        ("core", "`find_gaps` (every signal, 28 days)"),
        ("page", "GET /gaps as a trainer, computed each time (KB_CACHE_SECONDS=0)"),
        ("cached", "GET /gaps as a trainer, repeated within KB_CACHE_SECONDS (default 30)"),
        ("peer", "peer: coverage by vendor, site (same data)"),
    ]
    rows = [
        [label] + [f"{out[n]['results'][key][0]:.0f} / {out[n]['results'][key][1]:.0f}" for n in names]
        for key, label in labels
    ]
    body = "\n".join(
        [
            f"{args.agents:,} agents, {args.requirements} requirements ({first['assignments']:,} assignments), "
            f"{first['answers']:,} quiz answers, {first['searches']:,} logged searches ({first['clicks']:,} opened), "
            f"{first['flags']:,} feedback flags, a year of history; the page counts the last 28 days and found "
            + ", ".join(
                f"{out[n]['counts']['gaps']} gaps on {n} (loaded in {out[n]['counts']['load_s']:.0f} s)" for n in names
            )
            + ". Milliseconds: first request (query-to-section matches not cached yet) / median of the next 5"
            " (the peer: first / median of 2).",
            "",
            table(["measure"] + [f"{n} ms" for n in names], rows),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Gaps page (issue 14)", body)


if __name__ == "__main__":
    main()
