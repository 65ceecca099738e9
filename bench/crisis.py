"""Crisis-wave load test: many agents on PostgreSQL (+ Redis), `kb serve` with its production server,
driven by locust headless, beside a bare Flask "hello" served the same way in the same run.

    python bench/crisis.py                       # 10,000 agents, every endpoint, then the wave
    python bench/crisis.py --label today --no-wave --no-write

Phases:
1. endpoints: every agent first makes one request (mid-shift: their tokens were in use minutes
   before); then for each endpoint, wrk (or locust) saturates it alone for --seconds with --users
   concurrent clients (a different agent each request, API tokens); the hello ceiling runs the
   same way first.
2. wave: a bulletin is published with `kb publish` (the release path agents are asked through),
   then every agent once, in turn, loads an SOP page and its banner, searches twice, opens the
   bulletin and acknowledges it; measured until every agent is done (or --wave-timeout).
   Afterwards every acknowledgement answered 2xx must be in the database exactly once and
   coverage must show 100 % for the bulletin.
Figures go to the "Crisis wave" section of bench/RESULTS.md (`--label` names the row set).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import RESULTS, machine, table  # noqa: E402

VENDORS = [("northwind-bpo", ["manila", "cebu"]), ("apex-cx", ["bogota", "lisbon"]), ("in-house", ["dublin"])]
LANGUAGES = ["en", "es", "pt", "tl"]
SEARCHES = ["hacked account", "sim swap", "2fa reset", "phishing email", "passkey", "session revoke", "refund fraud"]
PAGE = "/sop/procedures/ato-recovery/"
IDENTITY_HEADER = "X-Bench-User"
ENDPOINTS = ["healthz", "banner", "reading_list", "search", "acknowledge"]
ENDPOINT_NAMES = {
    "healthz": "GET /healthz",
    "banner": "GET /api/v1/me/banner",
    "reading_list": "GET /api/v1/reading-list",
    "search": "GET /api/v1/search",
    "acknowledge": "POST /api/v1/acknowledgements",
}
BULLETIN_ID = "BUL-BENCH-WAVE"


def say(message: str) -> None:
    print(f"[crisis] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- data ------------------------------------------------------------------------------------


def postgres_scratch(base_url: str):
    from sqlalchemy import create_engine, text

    name = f"kb_crisis_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = base_url.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return url, drop


def populate(url: str, agents: int) -> list[dict]:
    """Agents with an agent login and an API token each, inserted in bulk; the tokens were last
    used from this address when the run starts, as for agents who are mid-shift."""
    from sqlalchemy import insert, select

    from kb_app.db import engine_for, session_scope, upgrade
    from kb_app.models import Agent, ApiToken, User

    engine = engine_for(url)
    upgrade(engine)
    now = datetime.now(timezone.utc)
    people = []
    for i in range(agents):
        vendor, sites = VENDORS[i % len(VENDORS)]
        people.append(
            {
                "employee_id": f"W{i:06d}",
                "name": f"Wave Agent {i}",
                "email": f"wave{i}@example.com",
                "tier": "T2" if vendor == "in-house" else "T1",
                "vendor": vendor,
                "site": sites[(i // len(VENDORS)) % len(sites)],
                "team": f"{vendor}-team-{i % 40}",
                "language": LANGUAGES[i % len(LANGUAGES)],
                "manager": f"Leader {i % 200}",
                "start_date": date(2025, 1, 6),
                "active": True,
            }
        )
    out = []
    with session_scope(engine) as session:
        for chunk in range(0, agents, 5000):
            session.execute(insert(Agent), people[chunk : chunk + 5000])
        ids = dict(session.execute(select(Agent.employee_id, Agent.id)).all())
        session.execute(
            insert(User),
            [
                {
                    "email": p["email"],
                    "name": "",
                    "role": "agent",
                    "agent_id": ids[p["employee_id"]],
                    "session_nonce": secrets.token_hex(8),
                    "active": True,
                    "created_at": now,
                }
                for p in people
            ],
        )
        user_ids = dict(session.execute(select(User.email, User.id)).all())
        tokens = []
        for p in people:
            secret = "kbt_" + secrets.token_urlsafe(32)
            tokens.append(
                {
                    "user_id": user_ids[p["email"]],
                    "name": "bench",
                    "token_hash": hashlib.sha256(secret.encode()).hexdigest(),
                    "prefix": secret[:10],
                    "created_at": now,
                    # In use before the crisis (agents mid-shift): the first-use audit row of each
                    # token is not part of the wave; the once-a-minute last-use write is.
                    "last_used_at": now,
                    "last_used_ip": "127.0.0.1",
                }
            )
            out.append({"employee_id": p["employee_id"], "email": p["email"], "token": tokens[-1]["token_hash"]})
            out[-1]["token"] = secret
        session.execute(insert(ApiToken), tokens)
    engine.dispose()
    return out


def bulletin_text() -> str:
    return (
        "---\n"
        f"id: {BULLETIN_ID}\n"
        'title: "Load-test wave: new phishing kit"\n'
        "kind: bulletin\n"
        'version: "1.0"\n'
        "status: active\n"
        "owner: Threat Management\n"
        "audience:\n  tiers: [T1, T2]\n  vendors: []\n  sites: []\n  languages: []\n"
        "visibility: all\n"
        "effective: 2026-11-24\n"
        "review_by: 2027-06-01\n"
        "ack_within: 4h\n"
        "expires: 2030-01-01T00:00:00Z\n"
        "tags: [bulletin, phishing]\n"
        "related: [ATO-RECOVERY]\n"
        "changelog:\n"
        '  - version: "1.0"\n'
        "    date: 2026-11-24\n"
        "    summary: Load-test bulletin.\n"
        "    ack_required: true\n"
        "---\n\n"
        "## What is happening {#summary}\n\n"
        "A phishing kit imitates our login page. Do not trust screenshots of codes.\n"
    )


# --- processes -------------------------------------------------------------------------------


def _wait_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


@contextmanager
def running(command: list[str], env: dict[str, str], port: int, log: Path):
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_port(port, process)
        time.sleep(1.0)  # let every worker finish booting
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def kb_serve_command(port: int, workers: int) -> tuple[list[str], str]:
    """The production server when this checkout's `kb serve` has one, else its waitress."""
    help_text = subprocess.run(
        [sys.executable, "-m", "kb_app", "serve", "--help"], capture_output=True, text=True, cwd=ROOT
    ).stdout
    command = [sys.executable, "-m", "kb_app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if "--workers" in help_text:
        return command + ["--workers", str(workers)], f"gunicorn, {workers} workers"
    return command + ["--threads", "8"], "waitress, 1 process, 8 threads"


def hello_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(ROOT / "bench"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--log-level",
        "warning",
        "hello_app:app",
    ]


def run_locust(host: str, scenario: str, data_file: Path, users: int, seconds: int, work: Path, processes: int):
    """One headless locust run; returns {name: stats row} from its CSV."""
    prefix = work / f"locust-{scenario}"
    env = {
        **os.environ,
        "KB_BENCH_DATA": str(data_file),
        "KB_BENCH_SCENARIO": scenario,
        "KB_BENCH_ACKS_OUT": str(work / f"acks-{scenario}.json"),
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "crisis_locust.py"),
        "--headless",
        "--host",
        host,
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "10",
        "--loglevel",
        "ERROR",
    ]
    if processes > 1:
        command += ["--processes", str(processes)]
    started = time.monotonic()
    subprocess.run(command, env=env, check=False, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    rows = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["Name"]] = row
    return rows, elapsed


def run_wrk(host: str, scenario: str, tokens_file: Path | None, connections: int, seconds: int):
    """One wrk run (bench/crisis_wrk.lua); returns a row shaped like locust's CSV stats."""
    env = {**os.environ, "KB_WRK_SCENARIO": scenario}
    if tokens_file is not None:
        env["KB_WRK_TOKENS"] = str(tokens_file)
    command = [
        "wrk",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "crisis_wrk.lua"),
        host,
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    figures = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    return {
        "Requests/s": figures["requests"] / figures["seconds"],
        "50%": f"{figures['p50_ms']:.0f}" if figures["p50_ms"] >= 10 else f"{figures['p50_ms']:.1f}",
        "95%": f"{figures['p95_ms']:.0f}" if figures["p95_ms"] >= 10 else f"{figures['p95_ms']:.1f}",
        "99%": f"{figures['p99_ms']:.0f}" if figures["p99_ms"] >= 10 else f"{figures['p99_ms']:.1f}",
        "Failure Count": figures["non_2xx"] + figures["socket_errors"],
        "Request Count": figures["requests"],
    }


def mid_shift(host: str, agents: list[dict], path: str, connections: int = 8) -> tuple[float, dict[int, int]]:
    """Every agent makes one request (`path`, with their token), as agents mid-shift have in the
    minutes before the measured load: their identities are believed by every worker. Returns
    (seconds, statuses)."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    where = urlsplit(host)
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    chunks = [agents[n::connections] for n in range(connections)]

    def walk(chunk: list[dict]) -> None:
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        for agent in chunk:
            connection.request("GET", path, headers={"Authorization": f"Bearer {agent['token']}"})
            response = connection.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=walk, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, statuses


def _row(label: str, stats: dict, ceiling: float | None) -> list:
    rps = float(stats["Requests/s"])
    share = f"{100 * rps / ceiling:.0f} %" if ceiling else ""
    return [
        label,
        f"{rps:,.0f}",
        share,
        stats["50%"],
        stats["95%"],
        stats["99%"],
        f"{int(stats['Failure Count'])} / {int(stats['Request Count']):,}",
    ]


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10000)
    parser.add_argument("--database-url", default=os.environ.get("KB_BENCH_POSTGRES_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("KB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    parser.add_argument("--workers", type=int, default=max(2, 2 * (os.cpu_count() or 1)))
    parser.add_argument("--users", type=int, default=16, help="concurrent locust users per endpoint (as wrk -c 16)")
    parser.add_argument("--wave-users", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--wave-timeout", type=int, default=300)
    parser.add_argument("--locust-processes", type=int, default=1)
    parser.add_argument(
        "--tool",
        choices=["wrk", "locust"],
        default="wrk" if shutil.which("wrk") else "locust",
        help="load tool of the endpoint phase (the wave always runs on locust); wrk, as the issue measured, "
        "when Debian's wrk is installed",
    )
    parser.add_argument("--label", default="after")
    parser.add_argument("--no-wave", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    base = args.database_url or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    url, drop = postgres_scratch(base)
    work = Path(tempfile.mkdtemp(prefix="kb-crisis-"))
    try:
        report = run(args, url, work)
    finally:
        drop()
        shutil.rmtree(work, ignore_errors=True)
    print(report)
    if not args.no_write:
        write(args.label, report)


def run(args, url: str, work: Path) -> str:
    from sqlalchemy import select

    from kb_app.db import engine_for, session_scope
    from kb_app.models import PublishedVersion

    sop_dir = work / "sop"
    shutil.copytree(ROOT / "sop", sop_dir)
    say(f"{args.agents:,} agents on {url.rsplit('/', 1)[-1]} ...")
    started = time.monotonic()
    agents = populate(url, args.agents)
    say(f"populated in {time.monotonic() - started:.0f} s")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KB_")},
        "KB_DATABASE_URL": url,
        "KB_SOP_DIR": str(sop_dir),
        "KB_QUIZ_DIR": str(ROOT / "quizzes"),
        "KB_VAR_DIR": str(work / "var"),
        "KB_SECRET_KEY": "bench",
        "KB_API_RATE_LIMIT": "10000000 per minute",
        "KB_TRUSTED_HEADER": IDENTITY_HEADER,
        "KB_REDIS_URL": args.redis_url,
    }
    kb = [sys.executable, "-m", "kb_app"]
    say("publishing the corpus (the release builds the index and the sites the app serves) ...")
    subprocess.run(kb + ["publish", "--by", "bench"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    engine = engine_for(url)
    with session_scope(engine) as session:
        ack_sop = session.scalar(select(PublishedVersion).where(PublishedVersion.sop_id == "ATO-RECOVERY"))
        ack_hash = ack_sop.tier_hashes["T1"]
    # Agents acknowledge as their own tier; the endpoint phase uses T1 agents only for the ack POST.
    t1 = [a for i, a in enumerate(agents) if VENDORS[i % len(VENDORS)][0] != "in-house"]
    data = {
        "agents": agents,
        "page": PAGE,
        "identity_header": IDENTITY_HEADER,
        "searches": SEARCHES,
        "ack_sop": "ATO-RECOVERY",
        "ack_hash": ack_hash,
    }
    data_file = work / "data.json"
    data_file.write_text(json.dumps(data))
    ack_file = work / "data-ack.json"
    ack_file.write_text(json.dumps({**data, "agents": t1}))
    # For wrk: one "token<TAB>extra" line per agent (the page for the banner, the hash to acknowledge).
    tokens_page = work / "tokens-page.tsv"
    tokens_page.write_text("".join(f"{a['token']}\t{PAGE}\n" for a in agents))
    tokens_ack = work / "tokens-ack.tsv"
    tokens_ack.write_text("".join(f"{a['token']}\t{ack_hash}\n" for a in t1))

    kb_port, hello_port = free_port(), free_port()
    serve, served_by = kb_serve_command(kb_port, args.workers)
    rows = []
    with running(hello_command(hello_port, args.workers), env, hello_port, work / "hello.log"):
        say(f"ceiling: Flask hello ({args.tool}) ...")
        if args.tool == "wrk":
            hello = run_wrk(f"http://127.0.0.1:{hello_port}", "hello", None, args.users, args.seconds)
        else:
            stats, _ = run_locust(
                f"http://127.0.0.1:{hello_port}",
                "hello",
                data_file,
                args.users,
                args.seconds,
                work,
                args.locust_processes,
            )
            hello = stats["hello"]
    ceiling = float(hello["Requests/s"])
    rows.append(_row('Flask "hello" (gunicorn gthread, same workers)', hello, None))
    say(" | ".join(str(c) for c in rows[-1]))
    with running(serve, env, kb_port, work / "kb.log"):
        seconds, statuses = mid_shift(f"http://127.0.0.1:{kb_port}", agents, "/api/v1/me")
        say(f"mid-shift: every agent made one request in {seconds:.0f} s ({statuses})")
        for endpoint in ENDPOINTS:
            say(f"endpoint: {endpoint} ...")
            if args.tool == "wrk":
                values = run_wrk(
                    f"http://127.0.0.1:{kb_port}",
                    endpoint,
                    tokens_ack if endpoint == "acknowledge" else tokens_page,
                    args.users,
                    args.seconds,
                )
                rows.append(_row(ENDPOINT_NAMES[endpoint], values, ceiling))
                say(" | ".join(str(c) for c in rows[-1]))
                continue
            stats, _ = run_locust(
                f"http://127.0.0.1:{kb_port}",
                endpoint,
                ack_file if endpoint == "acknowledge" else data_file,
                args.users,
                args.seconds,
                work,
                args.locust_processes,
            )
            name, values = next((k, v) for k, v in stats.items() if k != "Aggregated")
            rows.append(_row(name, values, ceiling))
            say(" | ".join(str(c) for c in rows[-1]))
        wave_lines = []
        if not args.no_wave:
            wave_lines = wave(args, env, kb, sop_dir, data, work, kb_port, engine, ceiling)
    engine.dispose()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    header = (
        f"**{args.label}**: {args.agents:,} agents, PostgreSQL, `kb serve` = {served_by}, {args.tool} {args.users} "
        f"{'connections' if args.tool == 'wrk' else 'users'} per endpoint for {args.seconds} s (no think time, "
        "each request a different agent; every agent made one request (`GET /api/v1/me`) just before, as agents "
        "mid-shift have, so their identities are shared by every worker), loopback; "
        "the ceiling ran in the same run; "
        f"load average at the end {load}.\n\n"
    )
    body = header + table(["endpoint", "req/s", "of ceiling", "p50 ms", "p95 ms", "p99 ms", "errors / requests"], rows)
    if wave_lines:
        body += "\n\n" + "\n".join(wave_lines)
    return body


def wave(args, env, kb, sop_dir: Path, data: dict, work: Path, port: int, engine, ceiling: float) -> list[str]:
    from sqlalchemy import func, select

    from kb_app.acks.coverage import CoverageFilter, coverage
    from kb_app.db import session_scope
    from kb_app.models import Acknowledgement, PublishedVersion, Requirement

    (sop_dir / "bulletins" / "bul-bench-wave.md").write_text(bulletin_text(), encoding="utf-8")
    say("wave: publishing the bulletin ...")
    started = time.monotonic()
    subprocess.run(kb + ["publish", "--by", "bench"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    publish_seconds = time.monotonic() - started
    with session_scope(engine) as session:
        version = session.scalar(select(PublishedVersion).where(PublishedVersion.sop_id == BULLETIN_ID))
        hashes = dict(version.tier_hashes)
        requirement_id = session.scalar(select(Requirement.id).where(Requirement.version_id == version.id))
    tier_of = {a["employee_id"]: ("T2" if i % len(VENDORS) == 2 else "T1") for i, a in enumerate(data["agents"])}
    # Each agent acknowledges the text of its own tier.
    wave_agents = [{**a, "tier": tier_of[a["employee_id"]]} for a in data["agents"]]
    for tier in ("T1", "T2"):
        part = [a for a in wave_agents if a["tier"] == tier]
        (work / f"wave-{tier}.json").write_text(
            json.dumps({**data, "agents": part, "bulletin": {"sop_id": BULLETIN_ID, "content_hash": hashes[tier]}})
        )
    say(f"wave: {len(wave_agents):,} agents, {args.wave_users} at a time ...")
    started = time.monotonic()
    results = {}
    # The two tiers run side by side, users split by their share of agents.
    procs = []
    for tier in ("T1", "T2"):
        share = sum(1 for a in wave_agents if a["tier"] == tier) / len(wave_agents)
        users = max(1, round(args.wave_users * share))
        procs.append((tier, users))
    import concurrent.futures

    for tier in ("T1", "T2"):
        (work / tier).mkdir(exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {
            tier: pool.submit(
                run_locust,
                f"http://127.0.0.1:{port}",
                "wave",
                work / f"wave-{tier}.json",
                users,
                args.wave_timeout,
                work / tier,
                1,
            )
            for tier, users in procs
        }
        for tier, future in futures.items():
            results[tier] = future.result()
    wave_seconds = time.monotonic() - started
    say(f"wave ran {wave_seconds:.0f} s")
    answered = []
    for tier in ("T1", "T2"):
        path = work / tier / "acks-wave.json"
        answered += json.loads(path.read_text()) if path.exists() else []
    ok = {employee for employee, status in answered if 200 <= status < 300}
    with session_scope(engine) as session:
        from kb_app.models import Agent

        recorded = dict(
            session.execute(
                select(Agent.employee_id, func.count(Acknowledgement.id))
                .join(Acknowledgement, Acknowledgement.agent_id == Agent.id)
                .where(Acknowledgement.sop_id == BULLETIN_ID)
                .group_by(Agent.employee_id)
            ).all()
        )
        [cov] = coverage(
            session,
            by=["requirement"],
            now=datetime.now(timezone.utc),
            flt=CoverageFilter(requirement_id=requirement_id, open_only=False),
        )
    lost = sorted(ok - set(recorded))
    doubled = sorted(e for e, n in recorded.items() if n != 1)
    merged: dict[str, dict] = {}
    for tier in ("T1", "T2"):
        for name, row in results[tier][0].items():
            if name == "Aggregated":
                continue
            slot = merged.setdefault(name, {"Request Count": 0, "Failure Count": 0, "Requests/s": 0.0, "rows": []})
            slot["Request Count"] += int(row["Request Count"])
            slot["Failure Count"] += int(row["Failure Count"])
            slot["Requests/s"] += float(row["Requests/s"])
            slot["rows"].append(row)
    table_rows = []
    for name, slot in sorted(merged.items()):
        worst = max(slot["rows"], key=lambda r: float(r["99%"] or 0))
        table_rows.append(
            _row(
                name,
                {
                    **worst,
                    "Requests/s": slot["Requests/s"],
                    "Request Count": slot["Request Count"],
                    "Failure Count": slot["Failure Count"],
                },
                ceiling,
            )
        )
    done = len(ok)
    lines = [
        f"Wave: bulletin published by `kb publish` in {publish_seconds:.1f} s (index and sites included); "
        f"{args.wave_users} locust users, each agent once: SOP page, banner, 2 searches, the bulletin, acknowledge. "
        f"Percentiles are the worse of the T1 and T2 runs.",
        "",
        table(["endpoint", "req/s", "of ceiling", "p50 ms", "p95 ms", "p99 ms", "errors / requests"], table_rows),
        "",
        f"- {done:,} of {len(wave_agents):,} agents acknowledged (2xx) in {wave_seconds:.1f} s of load"
        + ("" if done == len(wave_agents) else f" (stopped at the {args.wave_timeout} s limit)"),
        f"- in the database: {len(recorded):,} agents with an acknowledgement of the bulletin; answered 2xx but "
        f"missing: {len(lost)}; recorded more than once: {len(doubled)}",
        f"- coverage of the bulletin: {cov.percent_acknowledged} % of {cov.population:,}",
    ]
    return lines


def write(label: str, body: str) -> None:
    """Replace this label's part of the "Crisis wave" section, keeping the other labels' parts."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = RESULTS.read_text(encoding="utf-8")
    title = "## Crisis wave"
    part = f"### {label}\n\nMeasured {stamp} on {machine()}.\n\n{body.strip()}\n"
    if title not in text:
        intro = (
            f"{title}\n\n`python bench/crisis.py` (locust headless against `kb serve`; see the script's docstring). "
            "*today* is the code before the crisis-serving work, *after* the code with it.\n\n"
        )
        text = text.rstrip() + "\n\n" + intro + part
    else:
        head, _, section = text.partition(title)
        rest = ""
        if "\n## " in section:
            section, _, rest = section.partition("\n## ")
            rest = "\n## " + rest
        import re

        pattern = re.compile(rf"^### {re.escape(label)}\n.*?(?=^### |\Z)", re.S | re.M)
        section = (
            pattern.sub(lambda _m: part + "\n", section)
            if pattern.search(section)
            else section.rstrip() + "\n\n" + part
        )
        text = head + title + section.rstrip() + "\n" + rest
    RESULTS.write_text(text.rstrip() + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
