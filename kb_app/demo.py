"""Demo data: a generated roster of about 300 agents and one login per role.

Settings live in `kb_app/data/demo_roster.yml`; a fixed seed makes the roster the same every
time, so seeding is idempotent (an upsert that finds nothing to change the second time).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, timedelta
from importlib import resources
from typing import Any

import yaml
from sqlalchemy.orm import Session

from kb_app import audit, roster, roster_sites, users
from kb_app.roster import RosterRow


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    detail: str
    created: bool
    # False when someone changed the password after seeding: then it is not the one printed.
    password_works: bool = True


@dataclass(frozen=True)
class SeedResult:
    roster: dict[str, int]
    logins: list[DemoLogin]


def load_settings() -> dict[str, Any]:
    text = resources.files("kb_app").joinpath("data/demo_roster.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[^a-z]+", "", folded.lower())


def generate_roster(settings: dict[str, Any] | None = None) -> list[RosterRow]:
    """The demo roster, deterministic for given settings."""
    settings = settings or load_settings()
    rng = random.Random(settings["seed"])
    first_day = date.fromisoformat(str(settings["start_dates"]["from"]))
    last_day = date.fromisoformat(str(settings["start_dates"]["to"]))
    span = (last_day - first_day).days
    low, high = settings["agents_per_team"]
    inactive_share = float(settings["inactive_share"])
    pools = settings["names"]
    rows: list[RosterRow] = []
    used_emails: set[str] = set()

    def person(pool: str) -> tuple[str, str]:
        return rng.choice(pools[pool]["first"]), rng.choice(pools[pool]["last"])

    for vendor in settings["vendors"]:
        number = int(vendor["first_id"])
        for site in vendor["sites"]:
            team_names = site.get("team_names") or [
                f"{vendor['short']} {site['code'].title()} {n}" for n in range(1, int(site["teams"]) + 1)
            ]
            languages = list(site["languages"])
            weights = [site["languages"][code] for code in languages]
            for team in team_names:
                leader = " ".join(person(site["names"]))
                for _ in range(rng.randint(low, high)):
                    first, last = person(site["names"])
                    local = f"{_ascii(first)}.{_ascii(last)}"
                    email = f"{local}@{vendor['email_domain']}"
                    suffix = 2
                    while email in used_emails:
                        email = f"{local}{suffix}@{vendor['email_domain']}"
                        suffix += 1
                    used_emails.add(email)
                    rows.append(
                        RosterRow(
                            line=len(rows) + 2,
                            employee_id=f"{vendor['short']}-{number}",
                            name=f"{first} {last}",
                            email=email,
                            tier=vendor["tier"],
                            vendor=vendor["code"],
                            site=site["code"],
                            team=team,
                            language=rng.choices(languages, weights)[0],
                            manager=leader,
                            start_date=first_day + timedelta(days=rng.randint(0, span)),
                            active=rng.random() >= inactive_share,
                        )
                    )
                    number += 1
    # The demo agents that have logins must be able to sign in.
    login_ids = {login.get("employee_id") for login in settings["logins"]}
    return [replace(row, active=True) if row.employee_id in login_ids else row for row in rows]


def seed(session: Session, *, actor: str = "", settings: dict[str, Any] | None = None) -> SeedResult:
    """Upsert the demo roster and create missing demo logins, in the caller's transaction."""
    settings = settings or load_settings()
    rows = generate_roster(settings)
    plan = roster.import_roster(session, rows, actor=actor, source="demo roster")
    roster_sites.upsert_settings(
        session,
        [roster_sites.SiteSetting(s["code"], s["name"], s["time_zone"]) for s in settings.get("site_settings", [])],
        [roster_sites.VendorName(v["code"], v["name"]) for v in settings["vendors"] if v.get("name")],
    )
    logins = []
    for login in settings["logins"]:
        existing = users.user_by_email(session, login["email"])
        works = existing is None or users.verify_password(existing.password_hash, login["password"])
        if existing is None:
            users.create_user(
                session,
                email=login["email"],
                role=login["role"],
                name=login.get("name", ""),
                vendor=login.get("vendor"),
                employee_id=login.get("employee_id"),
                password=login["password"],
                actor=actor,
            )
        detail = login.get("vendor") or login.get("employee_id") or ""
        if login["role"] == "agent":
            tier = next(r.tier for r in rows if r.employee_id == login["employee_id"])
            detail = f"{tier}, {detail}"
        logins.append(DemoLogin(login["role"], login["email"], login["password"], detail, existing is None, works))
    audit.record(session, "demo.seed", actor=actor, details=plan.counts())
    return SeedResult(plan.counts(), logins)
