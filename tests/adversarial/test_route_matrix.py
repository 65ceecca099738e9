"""Cross-vendor and cross-tier checks generated from the route table: every route, every role,
with the caller's own ids, another vendor's, Tier 2-only ones and unknown ones.

For each request: no 5xx; a Tier 1 reader (T1 agent, partner manager) never sees a Tier 2-only
SOP or bank title or Tier 2-only text; a partner manager never sees another vendor's agents; an
agent never sees another agent; a Tier 2-only id answers exactly like an unknown one.

A new route is covered automatically when its path variables have an id source below (and, for
POST, a body); a route with a new kind of variable, or a POST without a body here, fails the
suite until it is added: no route ships without these checks.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from fixtures.fake_sites import T2_ONLY_MARKER, build_fake_sites
from fixtures.live import DEMO_LOGINS, LiveApp
from kb_app import db as kb_db
from kb_app.catalog import load_catalog
from kb_app.config import Settings
from kb_app import users
from kb_app.models import User
from kb_app.improvement import actions, feedback
from kb_app.models import Agent, Requirement
from kb_app.models.quizzes import RemediationSection, RemediationTask
from kb_app.quizzes.library import BankLibrary
from kb_app.versions import latest_version

ROLES = tuple(DEMO_LOGINS)
TIER1_READERS = ("agent_t1", "partner_manager")
OWN_EMPLOYEE_ID = "NW-10001"  # agent.t1's roster entry, a northwind-bpo agent
FOREIGN_EMAIL = re.compile(r"@(apex-cx|lumen-support|accountsecurity)\.example")
FOREIGN_ID = re.compile(r"\b(AX|LS|AS)-\d{5}\b")
ANY_AGENT_ID = re.compile(r"\b(NW|AX|LS|AS)-\d{5}\b")
UNKNOWN = "ZZ-UNKNOWN-0"
UNKNOWN_ATTEMPT = "0" * 32

# POST bodies (JSON for the API, a form for pages) by endpoint; "{var}" takes the variant's id.
BODIES: dict[str, dict] = {
    "api.api_acknowledge": {"sop_id": "{sop_id}", "content_hash": "0" * 64},
    "api.quiz_start": {"bank_id": "{bank_id}"},
    "api.quiz_submit": {"answers": {}},
    "api.roster_import": {"agents": [], "dry_run": True},
    "auth.login": {"identifier": "nobody@example.com", "password": "x"},
    "auth.logout": {},
    "auth.change_password": {"current": "x", "new": "y", "confirm": "y"},
    "acks.publish_page": {},
    "acks.acknowledge": {"content_hash": "0" * 64},
    "quizzes.start": {},
    "quizzes.submit": {},
    "admin.site_settings": {},
    "api.api_mark_read": {},
    "remediation.mark_read": {},
    "acks.remind_overdue": {"site": "manila"},
    "api.api_feedback": {"sop_id": "{sop_id}", "anchor": "purpose", "kind": "unclear", "comment": "<b>matrix</b>"},
    "improvement.flag_submit": {"sop_id": "{sop_id}", "anchor": "purpose", "kind": "unclear", "comment": "matrix"},
    "improvement.triage": {"decision": "dismiss"},
    "improvement.create_action": {
        "title": "Matrix action",
        "owner_email": "owner@example.com",
        "team": "Training",
        "due_date": "2026-12-31",
        "action_type": "sop",
        "sections": "{sop_id}",
        "vendor": "northwind-bpo",
        "flag_ids": "{flag_id}",
    },
    "improvement.action_status": {"status": "in_progress"},
}
NOT_EXERCISED = {"static", "auth.logout", "acks.publish_page", "auth.change_password"}  # would end the
# session or publish; their access rules are tested in tests/web


def one_answer(view: dict) -> dict:
    """One question answered, the rest left open: a submission that is graded, and fails (an
    empty one is refused, not graded)."""
    for question in view["questions"]:
        if question["type"] == "true_false":
            return {question["key"]: True}
        if question["type"] in ("single", "multiple") and question.get("options"):
            first = question["options"][0]["id"]
            return {question["key"]: first if question["type"] == "single" else [first]}
    first = view["questions"][0]
    return {first["key"]: "no idea"}


@dataclass
class Scenario:
    app: object
    tokens: dict[str, str]
    ids: dict[str, list[tuple[str, str]]]  # variable -> [(variant, value)]
    t2_titles: list[str]
    counts: dict[str, int] = field(default_factory=lambda: {"requests": 0, "checks": 0})


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    root = tmp_path_factory.mktemp("matrix")
    live = LiveApp(root).prepare()
    settings = Settings(
        root=root,
        sop_dir=root / "sop",
        quiz_dir=root / "quizzes",
        var_dir=root / "var",
        index_dir=root / "var" / "index",
        site_dir=build_fake_sites(root / "site"),
        database_url=live.env["KB_DATABASE_URL"],
        secret_key="matrix",
        api_rate_limit="100000 per minute",
        feedback_rate_limit="100000 per minute",
    )
    from kb_app.web import create_app

    app = create_app(settings, test_config={"TESTING": True, "REQUEST_LOG": False, "WTF_CSRF_ENABLED": False})
    catalog = load_catalog(root / "sop")
    t2_sops = [sop for sop in catalog if sop.visibility == "t2_only"]
    t1_sop = next(sop for sop in catalog if sop.visibility != "t2_only" and sop.status == "active")
    banks = BankLibrary(root / "quizzes").current().banks.values()
    t2_banks = [b for b in banks if b.tier == "T2"]
    t1_bank = next(b for b in banks if b.tier != "T2")
    engine = kb_db.engine_for(settings.database_url)
    with kb_db.session_scope(engine) as session:
        foreign = session.scalar(select(Agent.employee_id).where(Agent.vendor == "apex-cx").limit(1))
        t2_agent = session.scalar(select(Agent.employee_id).where(Agent.tier == "T2").limit(1))
        requirement_of = {r.sop_id: r.id for r in session.scalars(select(Requirement))}
    engine.dispose()
    # An attempt of the Tier 2 agent: nobody else may read it.
    client = app.test_client()
    started = client.post(
        "/api/v1/quiz-attempts",
        json={"bank_id": t2_banks[0].id},
        headers={"Authorization": f"Bearer {live.tokens['agent_t2']}"},
    )
    assert started.status_code in (200, 201), started.get_data(as_text=True)
    # ... and a reading task of theirs: a failed attempt of a bank that remediates.
    t2_headers = {"Authorization": f"Bearer {live.tokens['agent_t2']}"}
    for bank in t2_banks:
        view = client.post("/api/v1/quiz-attempts", json={"bank_id": bank.id}, headers=t2_headers).get_json()
        if "attempt_id" in view:
            client.post(
                f"/api/v1/quiz-attempts/{view['attempt_id']}/submit",
                json={"answers": one_answer(view)},
                headers=t2_headers,
            )
    engine = kb_db.engine_for(settings.database_url)
    with kb_db.session_scope(engine) as session:
        task = session.scalars(select(RemediationTask)).first()
        section_id = session.scalar(select(RemediationSection.id).where(RemediationSection.task_id == task.id))
        task_id = task.id
        loop_ids = _loop_rows(session, t1_sop.id, t2_sops[0].id)
    engine.dispose()
    ids = {
        "employee_id": [("own", OWN_EMPLOYEE_ID), ("foreign", foreign), ("tier2", t2_agent), ("unknown", UNKNOWN)],
        "sop_id": [("own", t1_sop.id), ("tier2", t2_sops[0].id), ("unknown", UNKNOWN)],
        "bank_id": [("own", t1_bank.id), ("tier2", t2_banks[0].id), ("unknown", UNKNOWN)],
        "attempt_id": [("foreign", started.get_json()["attempt_id"]), ("unknown", UNKNOWN_ATTEMPT)],
        "requirement_id": [
            ("own", str(requirement_of[t1_sop.id])),
            ("tier2", str(requirement_of[t2_sops[0].id])),
            ("unknown", "999999"),
        ],
        "path": [("own", "procedures/ato-recovery/"), ("tier2", "procedures/t2-infra/"), ("unknown", "nope/")],
        "tier": [("own", "T1"), ("tier2", "T2")],  # the preview builds: trainers and admins only
        "task_id": [("foreign", str(task_id)), ("unknown", "999999")],
        "section_id": [("foreign", str(section_id)), ("unknown", "999999")],
        # An apex-cx agent's flag, a Tier 2 agent's flag on a Tier 2-only SOP, and an action.
        "flag_id": [("foreign", loop_ids["foreign_flag"]), ("tier2", loop_ids["t2_flag"]), ("unknown", "999999")],
        "action_id": [("own", loop_ids["action"]), ("unknown", "999999")],
    }
    titles = [sop.title for sop in t2_sops] + [bank.title for bank in t2_banks] + [T2_ONLY_MARKER]
    return Scenario(app, live.tokens, ids, titles)


def _loop_rows(session, t1_sop_id: str, t2_sop_id: str) -> dict[str, str]:
    """Feedback flags of another vendor's agent and of a Tier 2 agent, and one action."""
    now = datetime.now(timezone.utc)
    apex_user = session.scalar(
        select(User)
        .join(Agent, Agent.id == User.agent_id)
        .where(Agent.vendor == "apex-cx", Agent.tier == "T1")
        .limit(1)
    )
    t2_user = users.user_by_email(session, DEMO_LOGINS["agent_t2"])
    t1_sections = latest_version(session, t1_sop_id).sections
    t2_sections = latest_version(session, t2_sop_id).sections
    foreign = feedback.raise_flag(
        session, apex_user, sop_id=t1_sop_id, anchor=t1_sections[0]["anchor"], kind="wrong", comment="apex", now=now
    )
    t2_flag = feedback.raise_flag(
        session, t2_user, sop_id=t2_sop_id, anchor=t2_sections[0]["anchor"], kind="wrong", comment="t2", now=now
    )
    action = actions.create_action(
        session,
        actions.ActionInput(
            title="Matrix", owner_email="o@example.com", team="Training", due_date=now.date(), action_type="sop"
        ),
        actor="matrix",
        now=now,
    )
    session.flush()
    return {"foreign_flag": str(foreign.id), "t2_flag": str(t2_flag.id), "action": str(action.id)}


def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in NOT_EXERCISED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _requests(scenario: Scenario):
    """(label, method, url, variable variants) for every route, and the variant ids to use."""
    for rule, method in _routes(scenario.app):
        body_names = re.findall(r"\{(\w+)\}", str(BODIES.get(rule.endpoint, ""))) if method == "POST" else []
        names = list(dict.fromkeys([*rule.arguments, *body_names]))
        missing = [n for n in names if n not in scenario.ids]
        assert not missing, f"{rule.rule}: no id source for {missing}; add one to the route matrix"
        if method == "POST":
            assert rule.endpoint in BODIES, f"POST {rule.rule}: add a body to the route matrix"
        for combo in itertools.product(*(scenario.ids[n] for n in names)):
            values = {n: value for n, (_, value) in zip(names, combo)}
            variants = {n: variant for n, (variant, _) in zip(names, combo)}
            url = rule.rule
            for name, value in values.items():
                if name not in rule.arguments:
                    continue
                url = re.sub(rf"<(?:[^<>]+:)?{name}>", value, url)
            yield rule, method, url, values, variants


def _send(scenario: Scenario, role: str, rule, method: str, url: str, values: dict, *, query: dict | None = None):
    client = scenario.app.test_client()
    api = url.startswith("/api/v1/")
    headers = {"Authorization": f"Bearer {scenario.tokens[role]}"} if api else {}
    if not api:
        client.post("/login", data={"identifier": DEMO_LOGINS[role], "password": _password(role)})
    body = {k: (v.format(**values) if isinstance(v, str) else v) for k, v in BODIES.get(rule.endpoint, {}).items()}
    if method == "GET":
        response = client.get(url, headers=headers, query_string=query)
    elif api:
        response = client.post(url, headers=headers, json=body)
    else:
        response = client.post(url, data=body)
    scenario.counts["requests"] += 1
    return response


def _password(role: str) -> str:
    return {
        "agent_t1": "demo-agent-t1",
        "agent_t2": "demo-agent-t2",
        "partner_manager": "demo-partner-mgr",
        "trainer": "demo-trainer-pw",
        "admin": "demo-admin-pw",
        "lead": "demo-lead-pw",
    }[role]


def _text(response) -> str:
    if response.mimetype and (response.mimetype.startswith("text/") or "json" in response.mimetype):
        return response.get_data(as_text=True)
    return response.get_data().decode("utf-8", errors="replace")


def _check(scenario: Scenario, role: str, label: str, response, problems: list[str], typed=()) -> None:
    text = _text(response)
    for value in typed:  # the caller's own input echoed back ("No agent AX-20001 on your roster") is no leak
        text = text.replace(value, "")
    # /readyz answers 503 while this node's index and sites are not the release's (here: fake sites).
    ready_probe = label.split(" ")[1] == "/readyz" and response.status_code == 503
    checks = [("no 5xx", response.status_code < 500 or ready_probe)]
    if role in TIER1_READERS:
        checks += [(f"no Tier 2 name {t!r}", t not in text) for t in scenario.t2_titles]
    if role == "partner_manager":
        checks += [("no other vendor's agent", not FOREIGN_EMAIL.search(text) and not FOREIGN_ID.search(text))]
    if role.startswith("agent_"):
        others = {m.group() for m in ANY_AGENT_ID.finditer(text)} - {OWN_EMPLOYEE_ID}
        checks += [("no other agent", not others or role == "agent_t2" and others <= {"AS-90001"})]
    scenario.counts["checks"] += len(checks)
    problems += [f"{role} {label} -> {response.status_code}: {name}" for name, ok in checks if not ok]


def test_every_route_every_role_keeps_vendors_and_tiers_apart(scenario):
    problems: list[str] = []
    for rule, method, url, values, variants in list(_requests(scenario)):
        for role in ROLES:
            label = f"{method} {url} {variants}"
            response = _send(scenario, role, rule, method, url, values)
            _check(scenario, role, label, response, problems, typed=values.values())
            if method == "GET" and not rule.arguments:
                # Another vendor named in the query string.
                response = _send(scenario, role, rule, method, url, values, query={"vendor": "apex-cx"})
                _check(scenario, role, label + " ?vendor=apex-cx", response, problems)
    print(f"route matrix: {scenario.counts['requests']} requests, {scenario.counts['checks']} checks")
    assert not problems, "\n".join(problems[:60]) + f"\n({len(problems)} in all)"


def test_a_tier2_id_answers_a_tier1_reader_exactly_like_an_unknown_one(scenario):
    problems: list[str] = []
    for rule, method, url, values, variants in list(_requests(scenario)):
        tier2 = [n for n, v in variants.items() if v == "tier2"]
        if len(tier2) != 1 or any(v not in ("tier2",) for n, v in variants.items() if n not in tier2):
            continue
        [name] = tier2
        unknown = dict(scenario.ids[name])["unknown"]
        other_url = url.replace(values[name], unknown) if name in rule.arguments else url
        for role in TIER1_READERS:
            hidden = _send(scenario, role, rule, method, url, values)
            missing = _send(scenario, role, rule, method, other_url, {**values, name: unknown})
            scenario.counts["checks"] += 1
            same = hidden.status_code == missing.status_code and hidden.headers.get("Location") == missing.headers.get(
                "Location"
            )
            if same and hidden.mimetype == "application/json":
                same = _text(hidden).replace(values[name], unknown) == _text(missing)
            if not same:
                problems.append(f"{role} {method} {url}: {hidden.status_code} vs unknown {missing.status_code}")
    assert not problems, "\n".join(problems)


def test_the_matrix_knows_every_kind_of_route(scenario):
    """A route with a path variable or a POST body the matrix cannot fill fails here, by name."""
    assert list(_requests(scenario))
