"""Per-request plumbing shared by the blueprints: the database session, settings, the
signed-in user, and the extensions that every blueprint decorates with."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import wraps
from typing import Any, Callable
from zoneinfo import ZoneInfo

from flask import Flask, abort, current_app, g, request
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect
from markupsafe import Markup
from sqlalchemy.orm import Session

from kb_app import roster_sites, users
from kb_app.config import Settings
from kb_app.models import User
from kb_app.quizzes.library import BankLibrary, LoadedBanks

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see this page."
login_manager.login_message_category = "info"


def settings() -> Settings:
    return current_app.config["KB_SETTINGS"]


def get_session() -> Session:
    """The request's database session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["kb_sessionmaker"]()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def client_ip() -> str:
    return request.remote_addr or ""


class SignedIn(UserMixin):
    """The Flask-Login face of a `User`; `via` says how they proved who they are."""

    def __init__(self, user: User, via: str = "session"):
        self.user = user
        self.via = via

    def get_id(self) -> str:
        return users.session_id(self.user)

    def __getattr__(self, name: str):
        return getattr(self.user, name)


def signed_in_user() -> User:
    return current_user.user


@login_manager.user_loader
def _load_from_session(session_id: str) -> SignedIn | None:
    if current_app.config.get("TRUSTED_HEADER"):
        return None  # behind an SSO proxy, only the header says who the user is
    user = users.user_for_session_id(get_session(), session_id)
    if user is None:
        return None
    g.kb_user_id = user.id
    return SignedIn(user, "session")


@login_manager.request_loader
def _load_from_trusted_header(_request) -> SignedIn | None:
    header = current_app.config.get("TRUSTED_HEADER")
    if not header:
        return None
    identity = request.headers.get(header, "").strip()
    if not identity:
        return None
    user = users.signed_in_by_identity(get_session(), identity)
    if user is None:
        return None
    g.kb_user_id = user.id
    return SignedIn(user, "header")


def roles_required(*roles: str) -> Callable:
    """Signed-in users with one of `roles` pass; other signed-in users get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def library() -> BankLibrary:
    found = current_app.extensions.get("kb_quiz_library")
    if found is None:
        found = current_app.extensions["kb_quiz_library"] = BankLibrary(
            settings().quiz_dir, current_app.config["BANK_RECHECK_SECONDS"]
        )
    return found


def banks() -> LoadedBanks:
    return library().current()


# --- names and local times in templates ------------------------------------------------------------


def names() -> roster_sites.Names:
    """Site, vendor and time-zone names, read once per request on first use."""
    if "kb_names" not in g:
        g.kb_names = roster_sites.Names.load(get_session())
    return g.kb_names


def viewer_zone() -> tzinfo:
    """The signed-in reader's time zone: their site's for an agent, else `KB_TIME_ZONE`."""
    if "kb_zone" not in g:
        found = None
        if current_user.is_authenticated and current_user.role == "agent" and current_user.agent is not None:
            found = names().site_zone(current_user.agent.site)
        g.kb_zone = found or ZoneInfo(settings().time_zone)
    return g.kb_zone


def local_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> Markup:
    """`<time>` in the reader's zone, with the UTC time on hover (and in `datetime`); `value`
    is an aware (or naive UTC) datetime, or one in ISO 8601 as API views carry it."""
    if not value:
        return Markup("")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    shown = roster_sites.local_time(value, viewer_zone(), fmt)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(shown.iso, shown.utc, shown.local)


def init_template_helpers(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(lambda code: names().site_name(code), "site_name")
    app.add_template_filter(lambda code: names().vendor_name(code), "vendor_name")
    app.add_template_filter(roster_sites.language_label, "language_name")

    @app.context_processor
    def _zone() -> dict[str, Any]:
        return {"viewer_zone": viewer_zone}
