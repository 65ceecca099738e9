"""Two real `kb serve` nodes (gunicorn) sharing one database and one Redis, each with its own
search index and sites: what happens through one node shows on the other.

Also: Redis going away never stops a node (it keeps serving, /readyz says so).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from kb_app import shared_state
from kb_app.db import session_scope
from tests.fixtures.publishing import publish_now

REDIS_URL = "redis://127.0.0.1:6379/12"
PAGE = "/sop/procedures/ato-recovery/"


def _redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip("Redis is not running on 127.0.0.1:6379")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Node:
    """One `kb serve` process and an HTTP client with its own cookies."""

    def __init__(self, name: str, env: dict[str, str], tmp: Path):
        self.name, self.port = name, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "KB_VAR_DIR": str(tmp / name)}
        self.log = tmp / f"{name}.log"
        self.process = None
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def start(self) -> None:
        command = [sys.executable, "-m", "kb_app", "serve", "--port", str(self.port), "--workers", "2"]
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 120) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                status, body = self.get("/readyz")
                if status == 200:
                    return body
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not ready: {self.log.read_text()}")

    def request(self, method: str, path: str, *, body=None, headers=None, form=None):
        data = None
        headers = dict(headers or {})
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=30) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@contextmanager
def nodes(count: int, env: dict[str, str], tmp: Path):
    started = [Node(f"node{n}", env, tmp) for n in range(count)]
    try:
        for node in started:
            node.start()
        for node in started:
            node.wait_ready()
        yield started
    finally:
        for node in started:
            node.stop()


def _publish(settings, sop_root: Path, var_dir: Path) -> None:
    node_settings = settings.replace(var_dir=var_dir, index_dir=var_dir / "index", site_dir=var_dir / "site")
    with session_scope(shared_engine(settings)) as session:
        publish_now(session, settings, sop_root, index_dir=node_settings.index_dir, site_dir=node_settings.site_dir)


def shared_engine(settings):
    from kb_app.db import engine_for

    return engine_for(settings.database_url)


@pytest.fixture
def cluster_env(settings, sop_dir, tmp_path):
    _redis_or_skip()
    sop_dir.write("ATO-RECOVERY", body="## Verify {#verify}\n\nVersion one of the text.\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KB_")},
        "KB_DATABASE_URL": settings.database_url,
        "KB_SOP_DIR": str(sop_dir.root),
        "KB_QUIZ_DIR": str(settings.quiz_dir),
        "KB_SECRET_KEY": settings.secret_key,
        "KB_REDIS_URL": REDIS_URL,
        "KB_LOGIN_RATE_LIMIT": "3 per minute",
        "KB_RELEASE_CHECK_SECONDS": "0.5",
    }
    yield env
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    namespace = shared_state.namespace_for(settings.database_url)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)


@pytest.mark.slow
@pytest.mark.fresh_db
def test_two_nodes_share_acknowledgements_limits_and_releases(
    cluster_env, settings, sop_dir, tmp_path, make_user, make_token
):
    agent = make_user("agent")
    bearer = {"Authorization": f"Bearer {make_token(agent)}"}
    _publish(settings, sop_dir.root, tmp_path / "node0")
    with nodes(2, cluster_env, tmp_path) as (a, b):
        # Node 1 had no index or sites: it built them from the release's SOP files before serving.
        assert b.wait_ready()["release"]["behind"] == []

        # An acknowledgement through one node shows on the other's banner at once.
        status, banner = b.get(f"/api/v1/me/banner?path={PAGE}", headers=bearer)
        assert status == 200 and banner["page"]["state"] == "action_required", banner
        _, change = a.get("/api/v1/sops/ATO-RECOVERY/changes", headers=bearer)
        status, _ = a.request(
            "POST",
            "/api/v1/acknowledgements",
            body={"sop_id": "ATO-RECOVERY", "content_hash": change["content_hash"]},
            headers=bearer,
        )
        assert status == 201
        _, banner = b.get(f"/api/v1/me/banner?path={PAGE}", headers=bearer)
        assert banner["page"]["state"] == "acknowledged"

        # Each node believes a token it checked for a while; a revocation ends that on both.
        leaver = make_user("agent")
        leaving = {"Authorization": f"Bearer {make_token(leaver, 'phone')}"}
        for node in (a, b, a, b):
            assert node.get("/api/v1/me", headers=leaving)[0] == 200
        subprocess.run(
            [sys.executable, "-m", "kb_app", "token", "revoke", "--user", leaver.email, "--name", "phone"],
            env=cluster_env,
            check=True,
            capture_output=True,
        )
        time.sleep(shared_state.GENERATION_MEMO_SECONDS * 2)
        assert [node.get("/api/v1/me", headers=leaving)[0] for node in (a, b)] == [401, 401]
        assert a.get("/api/v1/me", headers=bearer)[0] == 200

        # The login limit (3 a minute per address) counts attempts on both nodes.
        answers = []
        for node in (a, b, a, b):
            _, html = node.get("/login")
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
            status, _ = node.request(
                "POST", "/login", form={"identifier": agent.email, "password": "wrong", "csrf_token": token}
            )
            answers.append(status)
        assert answers[-1] == 429 and 429 not in answers[:3], answers

        # A publish through one node is served by both: search, sites and banners.
        sop_dir.write(
            "ATO-RECOVERY",
            version="2.0",
            body="## Verify {#verify}\n\nVersion two: call the customer back.\n",
        )
        _publish(settings, sop_dir.root, tmp_path / "node0")
        _, page = a.get(PAGE, headers={})
        deadline = time.monotonic() + 90
        while True:
            ready = b.get("/readyz")[1]
            if ready.get("status") == "ready" and ready["release"]["release"] == 2:
                break
            assert time.monotonic() < deadline, ready
            time.sleep(0.5)
        for node in (a, b):
            _, banner = node.get(f"/api/v1/me/banner?path={PAGE}", headers=bearer)
            assert banner["page"]["state"] == "action_required" and banner["page"]["version"] == "2.0"
            _, found = node.get("/api/v1/search?q=call+customer+back", headers=bearer)
            assert found["results"] and found["results"][0]["sop_id"] == "ATO-RECOVERY", found
            site = (tmp_path / node.name / "site" / "T1" / "procedures" / "ato-recovery" / "index.html").read_text()
            assert "Version two" in site


def test_redis_down_keeps_serving_and_readyz_says_so(make_app, settings, sop_dir, make_user, make_token, engine):
    sop_dir.write("ATO-RECOVERY")
    bearer = {"Authorization": f"Bearer {make_token(make_user('agent'))}"}
    with session_scope(engine) as session:
        publish_now(session, settings, sop_dir.root)
    app = make_app(settings.replace(redis_url="redis://127.0.0.1:1/0"))
    client = app.test_client()
    for _ in range(3):
        response = client.get(f"/api/v1/me/banner?path={PAGE}", headers=bearer)
        assert response.status_code == 200 and response.get_json()["page"]["state"] == "action_required"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert any("redis" in problem for problem in ready.get_json()["problems"])
    assert client.get("/healthz").status_code == 200


@pytest.mark.slow
@pytest.mark.fresh_db
def test_a_worker_killed_mid_wave_loses_no_answered_acknowledgement(
    cluster_env, settings, sop_dir, tmp_path, make_user, make_token, engine
):
    import signal
    import threading

    from sqlalchemy import func, select

    from kb_app.models import Acknowledgement, Agent

    agents = [make_user("agent") for _ in range(40)]
    tokens = {a.agent.employee_id: make_token(a) for a in agents}
    _publish(settings, sop_dir.root, tmp_path / "node0")
    with nodes(1, cluster_env, tmp_path) as (node,):
        _, change = node.get(
            "/api/v1/sops/ATO-RECOVERY/changes",
            headers={"Authorization": f"Bearer {tokens[agents[0].agent.employee_id]}"},
        )
        answered: dict[str, int] = {}
        lock = threading.Lock()
        work = list(tokens.items())

        def client() -> None:
            while True:
                with lock:
                    if not work:
                        return
                    employee_id, token = work.pop()
                try:
                    status, _ = node.request(
                        "POST",
                        "/api/v1/acknowledgements",
                        body={"sop_id": "ATO-RECOVERY", "content_hash": change["content_hash"]},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except OSError:  # the connection died with the worker
                    status = 0
                with lock:
                    answered[employee_id] = status

        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        children = subprocess.run(["pgrep", "-P", str(node.process.pid)], capture_output=True, text=True).stdout.split()
        assert children, "no gunicorn worker to kill"
        os.kill(int(children[0]), signal.SIGKILL)
        for thread in threads:
            thread.join()
        assert node.wait_ready()["status"] == "ready"  # the master replaced the worker
    with session_scope(engine) as session:
        recorded = dict(
            session.execute(
                select(Agent.employee_id, func.count(Acknowledgement.id))
                .join(Acknowledgement, Acknowledgement.agent_id == Agent.id)
                .group_by(Agent.employee_id)
            ).all()
        )
    ok = {employee for employee, status in answered.items() if 200 <= status < 300}
    assert ok and ok <= set(recorded), sorted(ok - set(recorded))
    assert all(count == 1 for count in recorded.values())
