"""PostgreSQL restarted in the middle of a wave of banner reads and acknowledgements: requests
fail cleanly (503 JSON, never a 500 or a hang), the pool recovers by itself, and nothing is half
written. The server is the test's own (`fixtures.private_postgres`), not the shared one."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import and_, func, select

from fixtures.live import LiveApp
from fixtures.private_postgres import PrivatePostgres
from kb_app import db as kb_db
from kb_app.acks import rollups
from kb_app.models import Acknowledgement, Assignment, Requirement
from kb_app.models.quizzes import UpdateGate

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _call(url: str, token: str, body: dict | None = None, timeout: float = 15.0) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, {"not_json": raw[:200].decode(errors="replace")}


@pytest.fixture
def postgres():
    server = PrivatePostgres(Path(tempfile.mkdtemp(prefix="kb-pg-")))
    try:
        server.init().start()
    except Exception as error:  # noqa: BLE001 - the machine has no server binaries
        server.close()
        pytest.fail(f"could not start a private PostgreSQL server: {error}")
    engine = kb_db.engine_for(server.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE DATABASE kb")
    engine.dispose()
    yield server
    server.close()


def test_a_postgres_restart_mid_wave_fails_cleanly_and_recovers(postgres, tmp_path):
    live = LiveApp(tmp_path / "app", database_url=postgres.url("kb")).prepare(index=False)
    live.serve("--workers", "2", "--threads", "4")
    try:
        token = live.tokens["agent_t1"]
        status, listing = _call(f"{live.base_url}/api/v1/reading-list", token)
        assert status == 200 and listing["items"], listing
        hashes = {}
        for item in listing["items"]:
            _, changes = _call(f"{live.base_url}/api/v1/sops/{item['sop_id']}/changes", token)
            hashes[item["sop_id"]] = changes["content_hash"]

        outcomes: list[tuple[str, int, dict, str | None]] = []  # (kind, status, body, sop)
        stop = threading.Event()

        def wave(worker: int) -> None:
            sops = list(hashes)
            n = 0
            while not stop.is_set():
                n += 1
                if n % 3:
                    status, body = _call(f"{live.base_url}/api/v1/me/banner", token)
                    outcomes.append(("banner", status, body, None))
                else:
                    sop = sops[(n + worker) % len(sops)]
                    status, body = _call(
                        f"{live.base_url}/api/v1/acknowledgements", token, {"sop_id": sop, "content_hash": hashes[sop]}
                    )
                    outcomes.append(("ack", status, body, sop))
                time.sleep(0.02)

        threads = [threading.Thread(target=wave, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        postgres.stop("fast")  # every connection of the pool is cut
        down_since = len(outcomes)
        time.sleep(2.0)
        ready_status, ready = _call(f"{live.base_url}/readyz", token)
        postgres.start()
        restarted = time.monotonic()
        recovered = None
        while time.monotonic() - restarted < 30:
            status, _ = _call(f"{live.base_url}/api/v1/me/banner", token)
            if status == 200:
                recovered = time.monotonic() - restarted
                break
            time.sleep(0.2)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        live.stop()

    statuses = {status for _, status, _, _ in outcomes}
    assert ready_status == 503 and ready["status"] != "ok", ready
    assert recovered is not None, "the banner did not answer 200 within 30 s of the restart"
    unexpected = [(kind, status, body) for kind, status, body, _ in outcomes if status not in (200, 201, 503)]
    assert not unexpected, (sorted(statuses), unexpected[:5], live.log()[-3000:])
    failures = [(kind, body) for kind, status, body, _ in outcomes if status == 503]
    assert failures, "no request met the restart: the wave did not overlap it"
    assert all(body.get("error", {}).get("code") == "database_unavailable" for _, body in failures), failures[:3]
    assert any(status in (200, 201) for _, status, _, _ in outcomes[down_since:]), "nothing answered after it"

    # Nothing half-written: every acknowledged SOP is stored once and its assignment is marked.
    acked = {sop for kind, status, _, sop in outcomes if kind == "ack" and status in (200, 201)}
    engine = kb_db.engine_for(postgres.url("kb"))
    with kb_db.session_scope(engine) as session:
        rows = session.execute(
            select(Acknowledgement.sop_id, func.count()).group_by(Acknowledgement.sop_id, Acknowledgement.agent_id)
        ).all()
        stored = {sop for sop, _ in rows}
        assert all(count == 1 for _, count in rows)
        assert acked <= stored
        # an acknowledgement without its assignment marked (where no update quiz holds it back)
        half_written = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .join(Requirement, Requirement.id == Assignment.requirement_id)
            .join(
                Acknowledgement,
                and_(Acknowledgement.agent_id == Assignment.agent_id, Acknowledgement.sop_id == Requirement.sop_id),
            )
            .where(Assignment.acknowledged_at.is_(None), Requirement.version_id.not_in(select(UpdateGate.version_id)))
        )
        assert half_written == 0
        assert rollups.verify(session) == []  # the coverage counts moved with every stored acknowledgement
    engine.dispose()
