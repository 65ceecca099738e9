"""`kb serve` under hostile conditions: idle sockets cannot starve it, and a SIGKILL in the middle
of a burst of acknowledgements leaves every answered acknowledgement stored with its assignment."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from fixtures.live import LiveApp
from kb_app import db as kb_db
from kb_app.models import Acknowledgement, Agent, User

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    app = LiveApp(tmp_path_factory.mktemp("serve")).prepare(index=False)
    yield app
    app.stop()


def _get(url: str, headers: dict | None = None, timeout: float = 20.0):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


@pytest.mark.parametrize(
    "server",
    [
        # gunicorn (the default): idle connections wait in each worker's poller, not on a thread
        ("--workers", "2", "--threads", "4"),
        # waitress: KB_CONNECTION_LIMIT and KB_IDLE_TIMEOUT
        ("--server", "waitress", "--threads", "4"),
    ],
    ids=["gunicorn", "waitress"],
)
def test_a_hundred_and_fifty_idle_sockets_do_not_stop_the_health_check(live, server):
    live.serve(*server)
    idle = []
    try:
        for _ in range(150):
            idle.append(socket.create_connection(("127.0.0.1", live.port), timeout=5))
        started = time.monotonic()
        for _ in range(5):
            status, body = _get(f"{live.base_url}/healthz", timeout=5)
            assert status == 200 and json.loads(body)["status"] == "ok"
        # five health checks behind 150 silent sockets answer as fast as without them
        assert time.monotonic() - started < 2.5
    finally:
        for sock in idle:
            sock.close()
        live.stop()


def _acknowledge(base_url: str, token: str, sop_id: str, content_hash: str, answered: list) -> None:
    body = json.dumps({"sop_id": sop_id, "content_hash": content_hash}).encode()
    request = urllib.request.Request(
        f"{base_url}/api/v1/acknowledgements",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            if response.status in (200, 201):
                answered.append(sop_id)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        pass  # the server died under us: this one was not answered


def test_sigkill_during_an_acknowledgement_burst_leaves_no_half_written_acknowledgement(live):
    live.serve("--threads", "8")
    token = live.tokens["agent_t1"]
    status, body = _get(f"{live.base_url}/api/v1/reading-list", {"Authorization": f"Bearer {token}"})
    items = json.loads(body)["items"]
    assert len(items) >= 3, "the demo agent needs open requirements"
    hashes = {}
    for item in items:
        _, changes = _get(f"{live.base_url}/api/v1/sops/{item['sop_id']}/changes", {"Authorization": f"Bearer {token}"})
        hashes[item["sop_id"]] = json.loads(changes)["content_hash"]
    answered: list[str] = []
    threads = [
        threading.Thread(target=_acknowledge, args=(live.base_url, token, sop_id, content_hash, answered))
        for sop_id, content_hash in hashes.items()
    ]
    for thread in threads:
        thread.start()
    threading.Event().wait(random.uniform(0.0, 0.3))
    live.kill()
    for thread in threads:
        thread.join(timeout=30)

    engine = kb_db.engine_for(live.env["KB_DATABASE_URL"])
    try:
        with kb_db.session_scope(engine) as session:
            agent_id = session.scalar(
                select(Agent.id).join(User, User.agent_id == Agent.id).where(User.email == "agent.t1@demo.example")
            )
            acked = set(session.scalars(select(Acknowledgement.sop_id).where(Acknowledgement.agent_id == agent_id)))
            assert set(answered) <= acked  # every 2xx is stored
    finally:
        engine.dispose()
    # After the restart nothing is stuck: each SOP acknowledges, and leaves the reading list unless
    # it waits for its update quiz (a stored acknowledgement without its assignment would stay).
    live.serve("--threads", "2")
    try:
        again: list[str] = []
        for sop_id, content_hash in hashes.items():
            _acknowledge(live.base_url, token, sop_id, content_hash, again)
        assert sorted(again) == sorted(hashes)
        _, body = _get(f"{live.base_url}/api/v1/reading-list", {"Authorization": f"Bearer {token}"})
        assert not [i for i in json.loads(body)["items"] if i["sop_id"] in hashes and not i.get("quiz_required")]
    finally:
        live.stop()
