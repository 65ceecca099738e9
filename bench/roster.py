"""Roster import benchmark: a generated 50k-row CSV, imported fresh and then re-imported with 5%
of agents changed, on SQLite and (when reachable) PostgreSQL.

    .venv/bin/python bench/roster.py [--rows 50000] [--postgres URL | --no-postgres]

Prints a Markdown table and replaces the `## Roster import` section of bench/RESULTS.md.
PostgreSQL: --postgres, else KB_BENCH_DATABASE_URL or KB_TEST_DATABASE_URL; a scratch
database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from kb_app import db, roster  # noqa: E402
from kb_app.models import Agent  # noqa: E402
from results import table, write_section  # noqa: E402

VENDORS = {
    "northwind-bpo": ("NW", ["manila", "cebu"], ["en", "tl"]),
    "apex-cx": ("AX", ["bogota", "cairo"], ["es", "ar", "en"]),
    "lumen-support": ("LS", ["krakow", "manila"], ["pl", "en", "tl"]),
    "in-house": ("AS", ["dublin", "krakow"], ["en", "pl"]),
}


def generate(rows: int, seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    vendors = list(VENDORS)
    out = []
    for n in range(rows):
        vendor = vendors[n % len(vendors)]
        short, sites, languages = VENDORS[vendor]
        site = rng.choice(sites)
        out.append(
            [
                f"{short}-{100000 + n}",
                f"Agent {n} {rng.choice(['Santos', 'Gómez', 'Nowak', 'Hassan', 'Murphy'])}",
                f"agent{n}@{vendor}.example",
                "T2" if vendor == "in-house" else "T1",
                vendor,
                site,
                f"{short} {site.title()} {rng.randint(1, 40)}",
                rng.choice(languages),
                f"Leader {rng.randint(1, 400)}",
                (date(2022, 1, 3) + timedelta(days=rng.randint(0, 1400))).isoformat(),
                "true",
            ]
        )
    return out


def change_some(rows: list[list[str]], share: float, seed: int = 11) -> list[list[str]]:
    rng = random.Random(seed)
    changed = [list(r) for r in rows]
    for index in rng.sample(range(len(rows)), int(len(rows) * share)):
        field = rng.choice([6, 8, 2])  # team, manager or email: what really moves
        changed[index][field] = changed[index][field] + "-x" if field != 2 else "moved." + changed[index][2]
    return changed


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(roster.COLUMNS)
    writer.writerows(rows)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def timed_import(engine, data: bytes) -> tuple[float, float, roster.ImportPlan]:
    started = time.perf_counter()
    rows = roster.read_roster_csv(data, "bench.csv")
    parsed = time.perf_counter()
    with db.session_factory(engine)() as session:
        plan = roster.import_roster(session, rows, actor="bench", source="bench.csv")
        session.commit()
    return parsed - started, time.perf_counter() - parsed, plan


def run(label: str, url: str, first: bytes, second: bytes, rows: int) -> list:
    engine = db.engine_for(url)
    try:
        db.upgrade(engine)
        parse1, write1, plan1 = timed_import(engine, first)
        parse2, write2, plan2 = timed_import(engine, second)
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(Agent)).scalar()
    finally:
        engine.dispose()
    assert stored == rows and plan1.counts()["new"] == rows, (stored, plan1.counts())
    print(
        f"{label}: first {parse1 + write1:.2f}s, re-import {parse2 + write2:.2f}s ({plan2.counts()})", file=sys.stderr
    )
    return [
        label,
        f"{rows:,}",
        f"{parse1 + write1:.2f} s (parse {parse1:.2f} + write {write1:.2f})",
        f"{rows / (parse1 + write1):,.0f}",
        f"{plan2.counts()['changed']:,}",
        f"{parse2 + write2:.2f} s (parse {parse2:.2f} + write {write2:.2f})",
    ]


def postgres_url(explicit: str | None) -> str | None:
    return explicit or os.environ.get("KB_BENCH_DATABASE_URL") or os.environ.get("KB_TEST_DATABASE_URL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--postgres", help="server URL (a scratch database is created on it)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    base = generate(args.rows)
    first, second = to_csv(base), to_csv(change_some(base, 0.05))
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        results.append(
            run("SQLite (file, WAL)", f"sqlite:///{Path(scratch) / 'bench.sqlite3'}", first, second, args.rows)
        )

    server = None if args.no_postgres else postgres_url(args.postgres)
    if server:
        admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        name = f"kb_bench_{uuid.uuid4().hex[:12]}"
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001 - report and carry on with SQLite only
            print(f"PostgreSQL not reachable ({exc.__class__.__name__}); skipped", file=sys.stderr)
        else:
            try:
                url = make_url(server).set(database=name).render_as_string(hide_password=False)
                results.append(run("PostgreSQL", url, first, second, args.rows))
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    body = (
        "`python bench/roster.py`: `kb roster import` core on a generated CSV (UTF-8 BOM, CRLF), "
        "first into an empty roster, then the same file with 5% of agents changed (team, manager "
        "or email). Times include CSV parsing and validation, planning against the roster (one "
        "query) and the chunked bulk writes, in one transaction.\n\n"
        + table(
            ["database", "rows", "first import", "rows/s", "changed on re-import", "re-import (5% changed)"],
            results,
        )
    )
    print(body)
    if not args.no_write:
        write_section("Roster import", body)


if __name__ == "__main__":
    main()
