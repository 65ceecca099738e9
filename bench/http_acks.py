"""Acknowledgement POST throughput and latency through the real WSGI server (`kb serve`,
waitress) with concurrent keep-alive clients using API tokens. Used by bench/acks.py."""

from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from results import percentile, served_app, table, fixtures_module  # noqa: E402


def _prepare(url: str, sop_root: Path, agents: int) -> list[tuple[str, str, str]]:
    """Agents with tokens, three published SOPs; returns (token, sop_id, hash) per request."""
    SopDir = fixtures_module("sops").SopDir

    from kb_app import users
    from kb_app.catalog import load_catalog
    from kb_app.db import engine_for, session_scope, upgrade
    from kb_app.models import Agent, PublishedVersion
    from kb_app.acks.publishing import publish

    engine = engine_for(url)
    upgrade(engine)
    sops = SopDir(sop_root)
    for sop_id in ("ATO-RECOVERY", "SIM-SWAP", "TWO-STEP-RESET"):
        sops.write(sop_id)
    with session_scope(engine) as session:
        for i in range(agents):
            session.add(
                Agent(
                    employee_id=f"B{i:05d}",
                    name=f"Bench {i}",
                    email=f"bench{i}@example.com",
                    tier="T1",
                    vendor="apex-cx",
                    site="bogota",
                    team="b1",
                    language="es",
                    manager="Lead",
                    start_date=date(2025, 1, 1),
                )
            )
    tokens = []
    with session_scope(engine) as session:
        for i in range(agents):
            user = users.create_user(
                session, email=f"bench{i}@example.com", role="agent", employee_id=f"B{i:05d}", actor="bench"
            )
            tokens.append(users.create_token(session, user, "bench", actor="bench").secret)
    with session_scope(engine) as session:
        publish(session, load_catalog(sops.root), now=datetime.now(timezone.utc), by="bench")
    with session_scope(engine) as session:
        hashes = {v.sop_id: v.tier_hashes["T1"] for v in session.query(PublishedVersion)}
    engine.dispose()
    return [(token, sop_id, hashes[sop_id]) for sop_id in hashes for token in tokens]


def _client(port: int, work: list, latencies: list, statuses: dict, lock: threading.Lock) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        with lock:
            if not work:
                break
            token, sop_id, content_hash = work.pop()
        body = json.dumps({"sop_id": sop_id, "content_hash": content_hash})
        start = time.perf_counter()
        connection.request(
            "POST",
            "/api/v1/acknowledgements",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        with lock:
            latencies.append(elapsed)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    connection.close()


def run_one(name: str, url: str, agents: int = 1000, clients: int = 16, threads: int = 8) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        work = _prepare(url, Path(tmp) / "sop", agents)
        env = {"KB_DATABASE_URL": url, "KB_VAR_DIR": str(Path(tmp) / "var"), "KB_SITE_DIR": str(Path(tmp) / "site")}
        with served_app(env, threads) as port:
            latencies, statuses, lock = [], {}, threading.Lock()
            total = len(work)
            start = time.perf_counter()
            workers = [
                threading.Thread(target=_client, args=(port, work, latencies, statuses, lock)) for _ in range(clients)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            wall = time.perf_counter() - start
    ms = [ln * 1000 for ln in latencies]
    return [
        name,
        total,
        clients,
        threads,
        f"{total / wall:.0f}",
        f"{percentile(ms, 50):.1f}",
        f"{percentile(ms, 99):.1f}",
        ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
    ]


def bench_http(postgres_url: str | None = None, agents: int = 1000) -> str:
    from acks import postgres_scratch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(run_one("SQLite", f"sqlite:///{tmp}/http.sqlite3", agents))
    base = postgres_url or os.environ.get("KB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        url, drop = postgres_scratch(base)
    except Exception as error:  # noqa: BLE001
        print(f"PostgreSQL not reachable ({error}); HTTP benchmark on SQLite only", file=sys.stderr)
    else:
        try:
            rows.append(run_one("PostgreSQL", url, agents))
        finally:
            drop()
    return (
        "Acknowledgement POST through `kb serve` (waitress) on 127.0.0.1, API token auth, every request a new acknowledgement:\n\n"
        + table(
            ["database", "requests", "clients", "server threads", "requests/s", "p50 ms", "p99 ms", "statuses"], rows
        )
    )


if __name__ == "__main__":
    print(bench_http(agents=int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
