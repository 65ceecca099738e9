"""Quiz benchmark: attempts started and graded per second through the real WSGI server (`python
-m kb_app serve`, waitress) with concurrent API-token clients, and the quiz reports (item
analysis, pass rates, certification coverage) over 200k stored answers, on SQLite and PostgreSQL.

    python bench/quizzes.py [--answers 200000] [--agents 2000] [--skip-postgres] [--skip-http] [--no-write]

Both parts use the real Tier 1 certification bank in quizzes/ (15 questions drawn per attempt).
PostgreSQL is used when KB_BENCH_POSTGRES_URL (default: the local test server) answers; a scratch
database is created and dropped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from sqlalchemy import insert, select  # noqa: E402

from kb_app.quizzes import reports as quiz_reports  # noqa: E402
from kb_app.db import engine_for, session_scope, upgrade  # noqa: E402
from kb_app.models import Agent  # noqa: E402
from kb_app.models.quizzes import QuizAnswer, QuizAnswerChoice, QuizAttempt, QuizBankSnapshot  # noqa: E402
from kb_app.quizzes.bank import bank_hash, read_banks  # noqa: E402
from kb_app.quizzes.draw import draw_attempt  # noqa: E402
from kb_app.quizzes.schema import (  # noqa: E402
    Matching,
    MultipleResponse,
    Numerical,
    Ordering,
    ShortAnswer,
    SingleChoice,
    TrueFalse,
    bank_to_data,
)
from results import median, percentile, served_app, table, write_section  # noqa: E402

QUIZ_DIR = ROOT / "quizzes"
BANK_ID = "cert-t1-account-security"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
VENDORS = [
    ("northwind-bpo", ["manila", "cebu"]),
    ("apex-cx", ["bogota", "krakow"]),
    ("lumen-support", ["cairo", "manila"]),
]
LANGUAGES = ["en", "es", "pl", "ar", "tl"]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_bank():
    banks = read_banks(QUIZ_DIR).banks
    return banks[BANK_ID]


def agent_rows(count: int, prefix: str) -> list[dict]:
    rows = []
    for i in range(count):
        vendor, sites = VENDORS[i % len(VENDORS)]
        site = sites[(i // len(VENDORS)) % len(sites)]
        rows.append(
            {
                "employee_id": f"{prefix}{i:06d}",
                "name": f"Agent {i}",
                "email": f"{prefix.lower()}{i}@example.com",
                "tier": "T1",
                "vendor": vendor,
                "site": site,
                "team": f"{site}-{(i // 50) % 10:02d}",
                "language": LANGUAGES[i % len(LANGUAGES)],
                "manager": "Lead",
                "start_date": date(2025, 1, 1),
                "active": True,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
    return rows


# --- part 1: attempts through the server ---------------------------------------------------------


def _prepare_http(url: str, agents: int) -> list[str]:
    """Agents with API tokens; returns the token secrets."""
    from kb_app import users

    engine = engine_for(url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(insert(Agent), agent_rows(agents, "H"))
    tokens = []
    with session_scope(engine) as session:
        for i in range(agents):
            user = users.create_user(
                session, email=f"h{i}@example.com", role="agent", employee_id=f"H{i:06d}", actor="bench"
            )
            tokens.append(users.create_token(session, user, "bench", actor="bench").secret)
    engine.dispose()
    return tokens


def _answers_from_view(view: dict, rng: random.Random) -> dict:
    """Plausible answers using only what the taker sees (no keys)."""
    answers = {}
    for q in view["questions"]:
        if q["type"] == "single":
            answers[q["key"]] = rng.choice(q["options"])["id"]
        elif q["type"] == "multiple":
            answers[q["key"]] = [o["id"] for o in q["options"] if rng.random() < 0.5]
        elif q["type"] == "true_false":
            answers[q["key"]] = rng.random() < 0.5
        elif q["type"] == "ordering":
            ids = [item["id"] for item in q["items"]]
            rng.shuffle(ids)
            answers[q["key"]] = ids
        elif q["type"] == "matching":
            answers[q["key"]] = {p["id"]: rng.choice(q["choices"])["id"] for p in q["prompts"]}
        elif q["type"] == "numerical":
            answers[q["key"]] = rng.choice(["4", "10", "14", "30", "7,5"])
        else:
            answers[q["key"]] = rng.choice(["Threat Management", "RF10", "14", "Tier 2"])
    return answers


def _client(port: int, work: list, timings: dict, statuses: dict, lock: threading.Lock, seed: int) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(method: str, path: str, token: str, body: dict) -> tuple[int, dict, float]:
        started = time.perf_counter()
        connection.request(
            method,
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {}), time.perf_counter() - started

    while True:
        with lock:
            if not work:
                break
            token = work.pop()
        status, view, start_time = call("POST", "/api/v1/quiz-attempts", token, {"bank_id": BANK_ID})
        submit_status, submit_time = None, None
        if status == 201:
            submit_status, _, submit_time = call(
                "POST",
                f"/api/v1/quiz-attempts/{view['attempt_id']}/submit",
                token,
                {"answers": _answers_from_view(view, rng)},
            )
        with lock:
            timings["start"].append(start_time)
            statuses[f"start {status}"] = statuses.get(f"start {status}", 0) + 1
            if submit_time is not None:
                timings["submit"].append(submit_time)
                statuses[f"submit {submit_status}"] = statuses.get(f"submit {submit_status}", 0) + 1
    connection.close()


def http_run(name: str, url: str, agents: int, clients: int = 16, threads: int = 8) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        progress(f"  {name}: {agents} agents with tokens")
        work = _prepare_http(url, agents)
        env = {
            "KB_DATABASE_URL": url,
            "KB_VAR_DIR": str(Path(tmp) / "var"),
            "KB_SITE_DIR": str(Path(tmp) / "site"),
            "KB_QUIZ_DIR": str(QUIZ_DIR),
            "KB_SOP_DIR": str(ROOT / "sop"),
        }
        with served_app(env, threads) as port:
            timings, statuses, lock = {"start": [], "submit": []}, {}, threading.Lock()
            progress(f"  {name}: {len(work)} attempts, {clients} clients")
            began = time.perf_counter()
            workers = [
                threading.Thread(target=_client, args=(port, work, timings, statuses, lock, i)) for i in range(clients)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            wall = time.perf_counter() - began
    graded = len(timings["submit"])
    start_ms = [t * 1000 for t in timings["start"]]
    submit_ms = [t * 1000 for t in timings["submit"]]
    return [
        name,
        graded,
        clients,
        threads,
        f"{graded / wall:.0f}",
        f"{percentile(start_ms, 50):.0f} / {percentile(start_ms, 99):.0f}",
        f"{percentile(submit_ms, 50):.0f} / {percentile(submit_ms, 99):.0f}",
        ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
    ]


# --- part 2: reports over stored answers ------------------------------------------------------------


def _chunks(engine, table_, rows, size=20000) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), size):
            connection.execute(insert(table_), rows[start : start + size])


def populate(engine, bank, answers_wanted: int, agents: int, seed: int = 5) -> tuple[list, list, list]:
    """Submitted attempts of the bank with simulated answers (ability vs difficulty)."""
    rng = random.Random(seed)
    _chunks(engine, Agent.__table__, agent_rows(agents, "R"))
    with engine.connect() as connection:
        agent_ids = [row[0] for row in connection.execute(select(Agent.id).where(Agent.employee_id.like("R%")))]
    content_hash = bank_hash(bank)
    _chunks(
        engine,
        QuizBankSnapshot.__table__,
        [
            {
                "bank_hash": content_hash,
                "bank_id": bank.id,
                "kind": bank.kind,
                "tier": bank.tier,
                "title": bank.title,
                "data": bank_to_data(bank),
                "first_seen_at": NOW,
            }
        ],
    )
    ability = {agent_id: rng.gauss(0.8, 1.0) for agent_id in agent_ids}
    difficulty = {q.id: rng.gauss(0.0, 1.0) for q in bank.questions}
    per_attempt = bank.questions_per_attempt
    attempts_n = math.ceil(answers_wanted / per_attempt)
    attempt_rows, answer_rows, choice_rows = [], [], []
    drawn_cache = [draw_attempt(bank, f"bench-{i}") for i in range(64)]  # 64 distinct draws, reused
    answer_id = 0
    for attempt_index in range(attempts_n):
        attempt_id = attempt_index + 1
        agent_id = agent_ids[attempt_index % len(agent_ids)]
        drawn = drawn_cache[attempt_index % len(drawn_cache)]
        started = NOW - timedelta(days=90) + timedelta(minutes=attempt_index)
        score = 0.0
        rows_here = []
        for item in drawn.questions:
            question = bank.question(item.question_id)
            p_right = 1 / (1 + math.exp(-(ability[agent_id] - difficulty[question.id])))
            right = rng.random() < p_right
            answer_id += 1
            rows_here.append(
                {
                    "id": answer_id,
                    "attempt_id": attempt_id,
                    "bank_id": bank.id,
                    "question_key": item.key,
                    "question_id": question.id,
                    "question_type": question.type,
                    "source": question.source,
                    "answered": True,
                    "points_earned": float(question.points) if right else 0.0,
                    "points_max": question.points,
                    "fraction": 1.0 if right else 0.0,
                    "correct": right,
                }
            )
            score += question.points if right else 0.0
            for choice in _choices(question, right, rng):
                choice_rows.append({"answer_id": answer_id, "choice": choice})
        max_score = sum(bank.question(i.question_id).points for i in drawn.questions)
        percent = round(100 * score / max_score, 2)
        attempt_rows.append(
            {
                "id": attempt_id,
                "public_id": secrets.token_hex(16),
                "user_id": None,
                "agent_id": agent_id,
                "bank_id": bank.id,
                "bank_hash": content_hash,
                "kind": bank.kind,
                "sop_version": None,
                "seed": f"bench-{attempt_index % 64}",
                "drawn": drawn.to_dict(),
                "pass_mark": bank.pass_mark,
                "started_at": started,
                "deadline": started + timedelta(minutes=30),
                "status": "submitted",
                "submitted_at": started + timedelta(minutes=12),
                "submission": {},
                "score": score,
                "max_score": max_score,
                "percent": percent,
                "passed": percent >= bank.pass_mark,
            }
        )
        answer_rows.extend(rows_here)
    return attempt_rows, answer_rows, choice_rows


def _choices(question, right: bool, rng: random.Random) -> list[str]:
    if isinstance(question, SingleChoice):
        pool = [o.id for o in question.options if o.is_correct == right] or [question.options[0].id]
        return [rng.choice(pool)]
    if isinstance(question, MultipleResponse):
        if right:
            return [o.id for o in question.options if o.is_correct]
        return [o.id for o in question.options if rng.random() < 0.5] or [question.options[-1].id]
    if isinstance(question, TrueFalse):
        return ["true" if (question.answer == right) else "false"]
    if isinstance(question, Ordering):
        order = list(range(len(question.items)))
        if not right:
            order[0], order[1] = order[1], order[0]
        return ["-".join(str(i) for i in order)]
    if isinstance(question, ShortAnswer):
        return [question.accepted_texts[0].casefold() if right else rng.choice(["tier 2", "policy", "p&i"])]
    if isinstance(question, Matching):  # attempts.matching_choice_values: `<pair>=<choice>`
        picks = len(question.choices)
        return [
            f"{i}={question.choice_index(p.answer) if right else rng.randrange(picks)}"
            for i, p in enumerate(question.pairs)
        ]
    if isinstance(question, Numerical):
        full = next(a for a in question.answers if a.credit == 100)
        return [format(full.value if right else full.value + 1, "g")]
    return []


def _insert_answers(engine, bank, answers: int, agents: int) -> tuple[int, int, float]:
    attempt_rows, answer_rows, choice_rows = populate(engine, bank, answers, agents)
    began = time.perf_counter()
    with engine.begin() as connection:
        # The benchmark writes attempts without users: give them one bench user.
        from kb_app.models import User

        user_id = connection.execute(
            insert(User)
            .values(
                email="bench-reports@example.com",
                name="bench",
                role="trainer",
                session_nonce="x",
                active=True,
                created_at=NOW,
            )
            .returning(User.id)
        ).scalar_one()
    for row in attempt_rows:
        row["user_id"] = user_id
    _chunks(engine, QuizAttempt.__table__, attempt_rows, size=5000)
    _chunks(engine, QuizAnswer.__table__, answer_rows)
    _chunks(engine, QuizAnswerChoice.__table__, choice_rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for name in ("quiz_attempts", "quiz_answers", "quiz_answer_choices"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
            connection.exec_driver_sql("ANALYZE")
    return len(attempt_rows), len(answer_rows), time.perf_counter() - began


REPORTS = [
    ("item analysis, overall", lambda s, b: quiz_reports.item_analysis(s, b)),
    ("item analysis, by vendor", lambda s, b: quiz_reports.item_analysis(s, b, by="vendor")),
    ("item analysis, by language", lambda s, b: quiz_reports.item_analysis(s, b, by="language")),
    (
        "item analysis, one vendor",
        lambda s, b: quiz_reports.item_analysis(s, b, flt=quiz_reports.ReportFilter(vendor="apex-cx")),
    ),
    ("pass rates by vendor and site", lambda s, b: quiz_reports.pass_rates(s, by=["vendor", "site"])),
    (
        "certification coverage by vendor, site",
        lambda s, b: quiz_reports.certification_coverage(s, b, by=["vendor", "site"], now=NOW, due_days=7),
    ),
]


def reports_run(name: str, url: str, answers: int, agents: int) -> tuple[dict, str]:
    bank = load_bank()
    engine = engine_for(url)
    upgrade(engine)
    progress(f"  {name}: storing ~{answers:,} answers")
    attempts_n, answers_n, load_s = _insert_answers(engine, bank, answers, agents)
    times = {}
    with session_scope(engine) as session:
        [analysis] = quiz_reports.item_analysis(session, bank)
        assert analysis.attempts == attempts_n and sum(i.n for i in analysis.items) == answers_n
        for label, run in REPORTS:
            samples = []
            for _ in range(3):
                began = time.perf_counter()
                run(session, bank)
                samples.append((time.perf_counter() - began) * 1000)
            times[label] = median(samples)
            progress(f"    {label}: {times[label]:.0f} ms")
    engine.dispose()
    return times, f"{attempts_n:,} attempts / {answers_n:,} answers on {name} (stored in {load_s:.0f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=200_000)
    parser.add_argument("--report-agents", type=int, default=5000)
    parser.add_argument("--agents", type=int, default=2000, help="HTTP part: agents, one attempt each")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = parser.parse_args()

    from acks import postgres_scratch

    base = os.environ.get("KB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    databases = []
    with tempfile.TemporaryDirectory() as tmp:
        databases.append(("SQLite", lambda label, tmp=tmp: (f"sqlite:///{tmp}/{label}.sqlite3", lambda: None)))
        if not args.skip_postgres:
            databases.append(("PostgreSQL", lambda label: postgres_scratch(base)))

        report_times, loaded, http_rows = {}, [], []
        for name, make in databases:
            try:
                url, drop = make("reports")
            except Exception as error:  # noqa: BLE001
                progress(f"{name} not reachable ({error}); skipped")
                continue
            try:
                report_times[name], note = reports_run(name, url, args.answers, args.report_agents)
                loaded.append(note)
            finally:
                drop()
            if not args.skip_http:
                url, drop = make("http")
                try:
                    http_rows.append(http_run(name, url, args.agents))
                finally:
                    drop()

    names = list(report_times)
    body = []
    if http_rows:
        body += [
            f"Attempts through `python -m kb_app serve` (waitress) on 127.0.0.1, API token per agent, each client starting an attempt "
            f"(`POST /api/v1/quiz-attempts`, the server draws 15 of the {len(load_bank().questions)} questions of `{BANK_ID}`) "
            "and submitting answers built from the taker view (`POST .../submit`, graded on the server, 15 answer rows written):",
            "",
            table(
                [
                    "database",
                    "attempts graded",
                    "clients",
                    "server threads",
                    "attempts/s (start + submit)",
                    "start p50 / p99 ms",
                    "submit p50 / p99 ms",
                    "statuses",
                ],
                http_rows,
            ),
            "",
        ]
    body += [
        "Quiz reports over stored answers ("
        + "; ".join(loaded)
        + "). Median of 3 runs, milliseconds. Each item analysis is "
        "four SQL aggregations (per-item sums, sums of squares and cross products; sorted cross products by window functions "
        "for the discriminative efficiency; attempt totals; option counts), with the formulas in Python over those rows.",
        "",
        table(
            ["report"] + [f"{n} ms" for n in names],
            [[label] + [f"{report_times[n][label]:.0f}" for n in names] for label, _ in REPORTS],
        ),
    ]
    text_body = "\n".join(body)
    print(text_body)
    if not args.no_write:
        write_section("Quizzes", text_body)


if __name__ == "__main__":
    main()
