"""The shared cache of agents' standings (banner and reading list) in Redis: computed ahead for
every agent by a publish, never believed once the agent's state moved on, and equal to what the
rows say."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from kb_app import shared_state
from tests.fixtures.publishing import publish_now
from tests.fixtures.redis_state import REDIS_URL
from tests.web.test_hot_paths import BANNER, acknowledge, counted


def _publish(session, settings, sop_dir):
    return publish_now(session, settings, sop_dir.root)


def _besides_stamp(statements: list[str]) -> list[str]:
    return [s for s in statements if "max(releases.id)" not in s]


def test_a_publish_computes_every_agents_banner_ahead(
    redis_settings, settings, make_app, make_user, make_token, sop_dir, session
):
    app = make_app(redis_settings)
    client = app.test_client()
    agents = [make_user("agent") for _ in range(3)]
    headers = [{"Authorization": f"Bearer {make_token(agent)}"} for agent in agents]
    for h in headers:
        assert client.get("/api/v1/me", headers=h).status_code == 200  # the tokens' first use is recorded
    sop_dir.write("SOP-0")
    sop_dir.write("SOP-1")
    result = _publish(session, settings, sop_dir)
    assert result.warmed == 3 and result.notes == [], result.notes
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    state = shared_state.for_session(session)
    for agent, h in zip(agents, headers, strict=True):
        # Besides what is counted, the release stamp is read again once it is a second old: on a
        # busy machine any of these requests may be the one that reads it.
        with counted(bind) as statements:
            ahead = client.get(BANNER, headers=h).get_json()
        assert _besides_stamp(statements) == [], statements  # the first banner after the publish is a cache hit
        with counted(bind) as statements:
            listed = client.get("/api/v1/reading-list", headers=h).get_json()
        assert _besides_stamp(statements) == [], statements  # so is the reading list, quiz reviews and all
        assert ahead["page"]["state"] == "action_required" and len(listed["items"]) == 2
        # What was computed ahead is what the rows say now.
        state.forget_agent(agent.agent_id)
        with counted(bind) as statements:
            assert client.get(BANNER, headers=h).get_json() == ahead
        assert statements  # read from the rows this time
        assert client.get("/api/v1/reading-list", headers=h).get_json() == listed
    # An acknowledgement ends the agent's kept standing at once; the others' stay kept.
    acknowledge(client, headers[0], "SOP-0")
    assert client.get(BANNER, headers=headers[0]).get_json()["page"]["state"] == "acknowledged"
    with counted(bind) as statements:
        assert client.get(BANNER, headers=headers[1]).get_json()["page"]["state"] == "action_required"
    assert statements == []


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_a_standing_read_before_an_acknowledgement_is_never_believed_after_it(backend, redis_settings):
    url = redis_settings.database_url + "?standing-test" if backend == "local" else redis_settings.database_url
    state = shared_state.SharedState(
        shared_state.LocalBackend() if backend == "local" else shared_state.RedisBackend(REDIS_URL),
        shared_state.namespace_for(url),
    )
    release = (1, 1)
    kept, epoch = state.agent_state(7, release)
    assert kept is None
    # A banner request reads the rows (the agent has not acknowledged yet) ...
    before = {"agent_id": 7, "tier": "T1", "open": [], "acks": []}
    # ... the agent's acknowledgement commits meanwhile ...
    state.forget_agent(7)
    # ... and the banner request keeps what it read, under the epoch it started with.
    state.keep_agent_state(7, release, before, epoch)
    assert state.agent_state(7, release)[0] is None
    # Kept under the current epoch, it counts; another release or generation ends it.
    _, epoch = state.agent_state(7, release)
    state.keep_agent_state(7, release, before, epoch)
    assert state.agent_state(7, release)[0]["agent_id"] == 7
    assert state.agent_state(7, (2, 2))[0] is None
    state.new_generation()
    assert state.agent_state(7, release)[0] is None


def test_a_recorded_update_gate_ends_every_kept_standing(
    redis_settings, settings, make_app, make_user, make_token, sop_dir, session
):
    from tests.quizzes.factories import make_bank, write_bank

    app = make_app(redis_settings)
    client = app.test_client()
    agent = make_user("agent")
    headers = {"Authorization": f"Bearer {make_token(agent)}"}
    sop_dir.write("SOP-0")
    _publish(session, settings, sop_dir)
    assert client.get(BANNER, headers=headers).get_json()["page"]["state"] == "action_required"
    state = shared_state.for_session(session)
    generation = state.generation()
    sop_dir.write("SOP-0", version="2.0", body="## Purpose {#purpose}\n\nNew text.\n")
    write_bank(settings.quiz_dir, make_bank("update-sop-0", kind="update", sops=["SOP-0"], version="2.0"))
    _publish(session, settings, sop_dir)  # the warm-up records the gate the bank names
    assert state.generation() > generation + 1  # the publish, then the recorded gate
    content_hash = client.get("/api/v1/sops/SOP-0/changes", headers=headers).get_json()["content_hash"]
    client.post("/api/v1/acknowledgements", json={"sop_id": "SOP-0", "content_hash": content_hash}, headers=headers)
    assert client.get(BANNER, headers=headers).get_json()["page"]["state"] == "quiz_required"


def test_the_kept_reading_list_shows_a_failed_quiz_and_each_section_read_at_once(
    redis_settings, settings, make_app, make_user, make_token, engine, sop_dir, session
):
    from tests.quizzes.factories import answers_for, make_new_types_bank, write_bank
    from tests.web.test_quizzes_web import drawn_of

    sop_dir.write("ATO-RECOVERY", version="1.0")
    _publish(session, settings, sop_dir)
    bank = make_new_types_bank("cert-new-types", cooldown_hours=24, retry_after="reading")
    write_bank(settings.quiz_dir, bank)
    app = make_app(redis_settings)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {make_token(make_user('agent'))}"}
    assert client.get("/api/v1/reading-list", headers=headers).get_json()["quiz_review"] == []  # now kept
    view = client.post("/api/v1/quiz-attempts", json={"bank_id": bank.id}, headers=headers).get_json()
    wrong = answers_for(bank, drawn_of(engine, view["attempt_id"]), right=False)
    client.post(f"/api/v1/quiz-attempts/{view['attempt_id']}/submit", json={"answers": wrong}, headers=headers)
    [review] = client.get("/api/v1/reading-list", headers=headers).get_json()["quiz_review"]
    [task] = client.get("/api/v1/me/remediation", headers=headers).get_json()["tasks"]
    assert review == {
        "task_id": task["task_id"],
        "bank_id": bank.id,
        "sources": [s["source"] for s in task["sections"]],
        "sections_read": 0,
        "all_read": False,
    }
    bind = app.extensions["kb_sessionmaker"].kw["bind"]
    for n, section in enumerate(task["sections"], start=1):
        path = f"/api/v1/me/remediation/{task['task_id']}/sections/{section['section_id']}/read"
        assert client.post(path, headers=headers).status_code == 200
        listed = client.get("/api/v1/reading-list", headers=headers).get_json()["quiz_review"]
        assert listed[0]["sections_read"] == n and listed[0]["all_read"] == (n == len(task["sections"]))
        with counted(bind) as statements:
            assert client.get("/api/v1/reading-list", headers=headers).get_json()["quiz_review"] == listed
        assert _besides_stamp(statements) == [], statements  # kept again until the next change


@contextmanager
def redis_round_trips():
    """How many times the block sends to Redis (a pipeline is one send)."""
    import redis.connection

    sent: list[int] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def send(self, command, check_health=True):
        sent.append(1)
        return original(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = send
    try:
        yield sent
    finally:
        redis.connection.AbstractConnection.send_packed_command = original


def test_a_kept_banner_counts_the_rate_limit_and_reads_the_standing_in_one_round_trip(
    redis_settings, settings, make_app, make_user, make_token, sop_dir, session
):
    app = make_app(redis_settings.replace(api_rate_limit="3 per minute"))
    client = app.test_client()
    agent = make_user("agent")
    headers = {"Authorization": f"Bearer {make_token(agent)}"}
    sop_dir.write("SOP-0")
    _publish(session, settings, sop_dir)
    assert client.get(BANNER, headers=headers).status_code == 200  # the token's first use; the standing kept
    time.sleep(shared_state.GENERATION_MEMO_SECONDS)
    with redis_round_trips() as sent:
        first = client.get(BANNER, headers=headers)
    # The generations (read at most every GENERATION_MEMO_SECONDS), then the limit and the standing.
    assert first.status_code == 200 and len(sent) <= 2, len(sent)
    with redis_round_trips() as sent:
        assert client.get("/api/v1/reading-list", headers=headers).status_code == 200
    assert len(sent) <= 2, len(sent)
    # The counts are Flask-Limiter's own (per route): the fourth banner of the minute is refused.
    assert client.get(BANNER, headers=headers).status_code == 200
    refused = client.get(BANNER, headers=headers)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
