"""Acknowledgement benchmark: coverage reports over 20k agents, 100 requirements, 1.5M
acknowledgements, on SQLite and PostgreSQL; and acknowledgement POST throughput through the
real WSGI server (waitress) with concurrent clients.

    python bench/acks.py [--agents 20000] [--requirements 100] [--skip-postgres] [--skip-http]

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

from sqlalchemy import create_engine, insert, text  # noqa: E402

from kb_app.db import engine_for, session_scope, upgrade  # noqa: E402
from kb_app.models import Acknowledgement, Agent, Assignment, PublishedVersion, Requirement, RequirementTarget  # noqa: E402
from kb_app.acks.coverage import CoverageFilter, coverage, coverage_from_rows, overdue_agents  # noqa: E402
from results import median, table, write_section  # noqa: E402

OPENED = datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
VENDORS = [
    ("northwind-bpo", ["manila", "cebu"]),
    ("apex-cx", ["bogota", "krakow"]),
    ("lumen-support", ["cairo", "manila"]),
    ("in-house", ["dublin"]),
]
LANGUAGES = ["en", "es", "pl", "ar", "tl"]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def chunked_insert(engine, table_, rows, size=20000) -> None:
    """Insert in chunks; assignments as multi-row INSERTs, as the app writes them, so that the
    coverage-rollup triggers add up a chunk per statement (executemany runs a statement per row)."""
    multi_row = table_ is Assignment.__table__
    size = 2000 if multi_row else size
    with engine.begin() as connection:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            if multi_row:
                connection.execute(insert(table_).values(chunk))
            else:
                connection.execute(insert(table_), chunk)


def populate(engine, agents: int, requirements: int, ack_rate: float, seed: int = 7) -> int:
    rng = random.Random(seed)
    progress(f"  {agents} agents")
    agent_rows = []
    for i in range(agents):
        vendor, sites = VENDORS[i % len(VENDORS)]
        site = sites[(i // len(VENDORS)) % len(sites)]
        team = f"{site}-{(i // 97) % 12:02d}"
        agent_rows.append(
            {
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
    chunked_insert(engine, Agent.__table__, agent_rows)
    progress(f"  {requirements} published versions and requirements")
    version_rows, requirement_rows, target_rows = [], [], []
    for r in range(1, requirements + 1):
        opened = OPENED + timedelta(days=r % 60)
        version_rows.append(
            {
                "id": r,
                "sop_id": f"SOP-{r:03d}",
                "version": "1.0",
                "major": 1,
                "minor": 0,
                "kind": "sop",
                "status": "active",
                "visibility": "all",
                "title": f"SOP {r}",
                "path": f"procedures/sop-{r:03d}.md",
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
        )
        requirement_rows.append(
            {
                "id": r,
                "version_id": r,
                "sop_id": f"SOP-{r:03d}",
                "major": 1,
                "minor": 0,
                "opened_at": opened,
                "due_at": opened + timedelta(days=7),
                "closed_at": None,
                "closed_reason": None,
                "is_bulletin": False,
            }
        )
        target_rows += [{"requirement_id": r, "dimension": "tier", "value": t} for t in ("T1", "T2")]
    chunked_insert(engine, PublishedVersion.__table__, version_rows)
    chunked_insert(engine, Requirement.__table__, requirement_rows)
    chunked_insert(engine, RequirementTarget.__table__, target_rows)
    ack_id = 0
    for r in range(1, requirements + 1):
        opened = requirement_rows[r - 1]["opened_at"]
        ack_rows, assignment_rows = [], []
        for a in range(1, agents + 1):
            acknowledged = None
            if rng.random() < ack_rate:
                ack_id += 1
                acknowledged = opened + timedelta(minutes=rng.expovariate(1 / (3 * 24 * 60)))
                ack_rows.append(
                    {
                        "id": ack_id,
                        "agent_id": a,
                        "version_id": r,
                        "sop_id": f"SOP-{r:03d}",
                        "major": 1,
                        "minor": 0,
                        "content_hash": f"{r:064x}",
                        "acknowledged_at": acknowledged,
                        "channel": "web",
                    }
                )
            assignment_rows.append(
                {
                    "requirement_id": r,
                    "agent_id": a,
                    "assigned_at": opened,
                    "due_at": opened + timedelta(days=7),
                    "acknowledged_at": acknowledged,
                    "acknowledgement_id": ack_id if acknowledged else None,
                    "seconds_to_ack": int((acknowledged - opened).total_seconds()) if acknowledged else None,
                }
            )
        chunked_insert(engine, Acknowledgement.__table__, ack_rows)
        chunked_insert(engine, Assignment.__table__, assignment_rows)
        if r % 10 == 0:
            progress(f"  requirement {r}/{requirements}: {ack_id} acknowledgements so far")
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
            for table_name in ("published_versions", "requirements", "acknowledgements"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), (SELECT max(id) FROM {table_name}))"
                    )
                )
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return ack_id


REPORTS = [
    ("by requirement", lambda s: coverage(s, by=["requirement"], now=NOW)),
    ("by requirement, from the rows (no rollups)", lambda s: coverage_from_rows(s, by=["requirement"], now=NOW)),
    ("by vendor, site", lambda s: coverage(s, by=["vendor", "site"], now=NOW)),
    ("by vendor, site, from the rows (no rollups)", lambda s: coverage_from_rows(s, by=["vendor", "site"], now=NOW)),
    (
        "by team leader, one vendor",
        lambda s: coverage(s, by=["team_leader"], now=NOW, flt=CoverageFilter(vendor="apex-cx")),
    ),
    (
        "one requirement by site, language",
        lambda s: coverage(s, by=["site", "language"], now=NOW, flt=CoverageFilter(requirement_id=42)),
    ),
    (
        "one requirement drill-down: by vendor, site, team",
        lambda s: coverage(s, by=["vendor", "site", "team"], now=NOW, flt=CoverageFilter(requirement_id=42)),
    ),
    (
        "overdue agents, one vendor (first 500)",
        lambda s: overdue_agents(s, now=NOW, flt=CoverageFilter(vendor="apex-cx"), limit=500),
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
    return out


def bench_database(name: str, url: str, agents: int, requirements: int) -> tuple[list[tuple[str, float]], float, int]:
    progress(f"{name}: creating schema and data")
    engine = engine_for(url)
    upgrade(engine)
    start = time.perf_counter()
    acks = populate(engine, agents, requirements, ack_rate=0.75)
    load_seconds = time.perf_counter() - start
    progress(f"{name}: {acks} acknowledgements loaded in {load_seconds:.0f} s; timing reports")
    timings = time_reports(engine)
    engine.dispose()
    return timings, load_seconds, acks


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
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = bench_database("SQLite", f"sqlite:///{tmp}/bench.sqlite3", args.agents, args.requirements)
    if not args.skip_postgres:
        base = os.environ.get("KB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        try:
            url, drop = postgres_scratch(base)
        except Exception as error:  # noqa: BLE001 - report and go on with SQLite only
            progress(f"PostgreSQL not reachable ({error}); skipping it")
        else:
            try:
                results["PostgreSQL"] = bench_database("PostgreSQL", url, args.agents, args.requirements)
            finally:
                drop()

    names = list(results)
    rows = [[label] + [f"{dict(results[n][0])[label]:.0f}" for n in names] for label, _ in REPORTS]
    body = [
        f"{args.agents:,} agents, {args.requirements} requirements, "
        + ", ".join(f"{results[n][2]:,} acknowledgements on {n} (loaded in {results[n][1]:.0f} s)" for n in names)
        + ". Median of 3 runs, milliseconds. Coverage reads the rollups (one row per requirement, roster"
        " cell and due date, kept by triggers; load time includes them); the rows' own aggregation, which"
        " `kb report coverage --verify` and the property tests compare with, is timed beside it as the"
        " peer. Load average at the start of the run: " + f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        table(["coverage report"] + [f"{n} ms" for n in names], rows),
    ]
    if not args.skip_http:
        try:
            from http_acks import bench_http
        except ImportError:
            progress("HTTP benchmark not available yet")
        else:
            body += ["", bench_http()]
    text_body = "\n".join(body)
    print(text_body)
    if not args.no_write:
        write_section("Acknowledgements and coverage", text_body)


if __name__ == "__main__":
    main()
