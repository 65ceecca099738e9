"""Settings read from `KB_*` environment variables, with defaults that work on a bare machine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one deployment. `Settings.from_env()` is the usual entry."""

    root: Path = field(default_factory=Path.cwd)
    sop_dir: Path = Path("sop")
    quiz_dir: Path = Path("quizzes")
    var_dir: Path = Path("var")
    index_dir: Path = Path("var/index")
    site_dir: Path = Path("var/site")
    database_url: str = "sqlite:///var/kb.sqlite3"
    secret_key: str = ""
    ack_due_days: int = 7
    onboarding_days: int = 14
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "kb@localhost"
    trusted_header: str = ""
    base_url: str = "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        var_dir = Path(_env("KB_VAR_DIR", "var"))
        settings = cls(
            root=Path.cwd(),
            sop_dir=Path(_env("KB_SOP_DIR", "sop")),
            quiz_dir=Path(_env("KB_QUIZ_DIR", "quizzes")),
            var_dir=var_dir,
            index_dir=Path(_env("KB_INDEX_DIR", str(var_dir / "index"))),
            site_dir=Path(_env("KB_SITE_DIR", str(var_dir / "site"))),
            database_url=_env("KB_DATABASE_URL", f"sqlite:///{var_dir / 'kb.sqlite3'}"),
            secret_key=_env("KB_SECRET_KEY", ""),
            ack_due_days=_env_int("KB_ACK_DUE_DAYS", 7),
            onboarding_days=_env_int("KB_ONBOARDING_DAYS", 14),
            smtp_host=_env("KB_SMTP_HOST", "127.0.0.1"),
            smtp_port=_env_int("KB_SMTP_PORT", 25),
            smtp_user=_env("KB_SMTP_USER", ""),
            smtp_password=_env("KB_SMTP_PASSWORD", ""),
            smtp_starttls=_env_bool("KB_SMTP_STARTTLS", False),
            mail_from=_env("KB_MAIL_FROM", "kb@localhost"),
            trusted_header=_env("KB_TRUSTED_HEADER", ""),
            base_url=_env("KB_BASE_URL", "http://127.0.0.1:8000"),
        )
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **overrides) if overrides else settings
