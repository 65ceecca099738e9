"""Locust user classes for `bench/crisis.py` (run by it headless; not meant to be run by hand).

The data file named by KB_BENCH_DATA lists the simulated agents (employee id, e-mail, API token)
and what they need (an SOP page path, the bulletin's id and content hash, search terms).
`KB_BENCH_SCENARIO` picks one endpoint to saturate, or `wave`: every agent once, in turn, loads an
SOP page and its banner, searches twice, opens the bulletin and acknowledges it.
"""

from __future__ import annotations

import itertools
import json
import os
import random

import gevent
from locust import constant, events, task
from locust.exception import StopUser
from locust.contrib.fasthttp import FastHttpUser

with open(os.environ["KB_BENCH_DATA"], encoding="utf-8") as _data:
    DATA = json.load(_data)
SCENARIO = os.environ.get("KB_BENCH_SCENARIO", "banner")
AGENTS = DATA["agents"]
_turns = itertools.count()
# wave: what each acknowledgement POST was answered with, written out when the run stops
_acks: list[tuple[str, int]] = []


def _next_agent() -> dict | None:
    turn = next(_turns)
    if SCENARIO == "wave":
        return AGENTS[turn] if turn < len(AGENTS) else None
    return AGENTS[turn % len(AGENTS)]


class Agent(FastHttpUser):
    wait_time = constant(0)

    def _api(self, agent: dict) -> dict:
        return {"Authorization": f"Bearer {agent['token']}"}

    def _page(self, agent: dict) -> dict:
        return {DATA["identity_header"]: agent["email"]}

    @task
    def one_turn(self) -> None:
        agent = _next_agent()
        if agent is None:
            raise StopUser()
        getattr(self, f"do_{SCENARIO}")(agent)

    def do_hello(self, agent: dict) -> None:
        self.client.get("/", name="hello")

    def do_healthz(self, agent: dict) -> None:
        self.client.get("/healthz", name="GET /healthz")

    def do_banner(self, agent: dict) -> None:
        self.client.get(
            f"/api/v1/me/banner?path={DATA['page']}", headers=self._api(agent), name="GET /api/v1/me/banner"
        )

    def do_reading_list(self, agent: dict) -> None:
        self.client.get("/api/v1/reading-list", headers=self._api(agent), name="GET /api/v1/reading-list")

    def do_search(self, agent: dict) -> None:
        term = random.choice(DATA["searches"])
        self.client.get(f"/api/v1/search?q={term}", headers=self._api(agent), name="GET /api/v1/search")

    def do_acknowledge(self, agent: dict) -> None:
        self._acknowledge(agent, DATA["ack_sop"], DATA["ack_hash"])

    def _acknowledge(self, agent: dict, sop_id: str, content_hash: str) -> None:
        with self.client.post(
            "/api/v1/acknowledgements",
            json={"sop_id": sop_id, "content_hash": content_hash},
            headers=self._api(agent),
            name="POST /api/v1/acknowledgements",
            catch_response=True,
        ) as response:
            if SCENARIO == "wave":
                _acks.append((agent["employee_id"], response.status_code))
            if response.status_code not in (200, 201):
                response.failure(f"status {response.status_code}")

    def do_wave(self, agent: dict) -> None:
        bulletin = DATA["bulletin"]
        self.client.get(DATA["page"], headers=self._page(agent), name="GET /sop/<page>")
        self.client.get(
            f"/api/v1/me/banner?path={DATA['page']}", headers=self._api(agent), name="GET /api/v1/me/banner"
        )
        for term in random.sample(DATA["searches"], 2):
            self.client.get(f"/api/v1/search?q={term}", headers=self._api(agent), name="GET /api/v1/search")
        self.client.get(
            f"/api/v1/sops/{bulletin['sop_id']}/changes", headers=self._api(agent), name="GET /api/v1/sops/<id>/changes"
        )
        self._acknowledge(agent, bulletin["sop_id"], bulletin["content_hash"])


@events.test_start.add_listener
def _stop_when_the_wave_is_done(environment, **_kwargs) -> None:
    if SCENARIO != "wave":
        return

    def watch() -> None:
        gevent.sleep(2)
        while environment.runner.user_count > 0:
            gevent.sleep(0.2)
        environment.runner.quit()

    gevent.spawn(watch)


@events.test_stop.add_listener
def _write_acks(**_kwargs) -> None:
    out = os.environ.get("KB_BENCH_ACKS_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(_acks, handle)
