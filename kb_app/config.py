"""The one settings object: every `KB_*` environment variable, typed, with defaults that work on a
bare machine, and every path resolved once (relative paths against the working directory).

`Settings.from_env(**overrides)` reads the environment; keyword arguments (from `kb` options or
tests) win over it. Nothing else in the package reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable about one deployment."""

    model_config = SettingsConfigDict(env_prefix="KB_", env_ignore_empty=True, frozen=True, extra="forbid")

    root: Path = Field(default_factory=Path.cwd, exclude=True, description="base for relative paths (not a setting)")
    sop_dir: Path = Path("sop")
    quiz_dir: Path = Path("quizzes")
    var_dir: Path = Path("var")
    index_dir: Path = Path("var/index")  # default follows var_dir
    site_dir: Path = Path("var/site")  # default follows var_dir
    database_url: str = "sqlite:///var/kb.sqlite3"  # default follows var_dir
    secret_key: str = ""
    ack_due_days: int = Field(7, ge=1, le=365)
    onboarding_days: int = Field(14, ge=0, le=365)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "kb@localhost"
    trusted_header: str = ""
    base_url: str = "http://127.0.0.1:8000"
    secure_cookies: bool = False
    proxy_hops: int = Field(0, ge=0, le=10)
    ratelimit_storage_uri: str = ""  # default: KB_REDIS_URL when set, else memory:// (per process)
    redis_url: str = ""  # shared limits, caches and release notices across workers and nodes
    cache_seconds: int = Field(
        300, ge=0, le=3600
    )  # agent banner/reading-list state (events end it sooner); 0 switches it off
    workers: int = Field(0, ge=0, le=64)  # `kb serve` worker processes; 0: two per core
    release_check_seconds: float = Field(2.0, ge=0.1, le=3600)  # how often a node looks for a new release
    login_rate_limit: str = "10 per minute;100 per hour"
    login_identifier_rate_limit: str = "30 per hour"
    api_rate_limit: str = "600 per minute"
    feedback_rate_limit: str = "10 per hour;30 per day"  # feedback flags per agent (page and API together)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    connection_limit: int = Field(1000, ge=10, le=10000)
    idle_timeout: int = Field(30, ge=1, le=3600)
    search_url: str = ""
    # BPO languages a translation is expected in (ISO 639-1, comma separated): `kb translations status`
    # shows each as missing until translated. Languages translated into are added automatically.
    languages: str = "es,tl,ar,pl"
    npm: str = "npm"
    # IANA time zone for readers without a site zone (staff, sites not set on the admin page)
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _iana_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (for example UTC or Asia/Manila)") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _defaults_follow_var_dir(cls, data: Any) -> Any:
        if isinstance(data, dict):
            var_dir = Path(data.get("var_dir") or "var")
            data.setdefault("index_dir", var_dir / "index")
            data.setdefault("site_dir", var_dir / "site")
            data.setdefault(
                "database_url", f"sqlite:///{_under(Path(data.get('root') or Path.cwd()), var_dir) / 'kb.sqlite3'}"
            )
        return data

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        root = Path(self.root)
        var_dir = _under(root, self.var_dir)
        resolved: dict[str, Any] = {
            "root": root,
            "var_dir": var_dir,
            "sop_dir": _under(root, self.sop_dir),
            "quiz_dir": _under(root, self.quiz_dir),
            "index_dir": _under(root, self.index_dir),
            "site_dir": _under(root, self.site_dir),
        }
        for name, value in resolved.items():
            object.__setattr__(self, name, value)  # frozen model: set once, while validating
        return self

    @property
    def limiter_storage_uri(self) -> str:
        """Where rate limits are counted: KB_RATELIMIT_STORAGE_URI, else Redis, else this process."""
        return self.ratelimit_storage_uri or self.redis_url or "memory://"

    @property
    def language_list(self) -> list[str]:
        return [code.strip() for code in self.languages.split(",") if code.strip()]

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        return cls(**{key: value for key, value in overrides.items() if value is not None})

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed, resolved again (the environment is not re-read)."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        return type(self).model_validate(data)

    @classmethod
    def environment_names(cls) -> list[str]:
        """Every environment variable this object reads, for the README check."""
        return sorted(f"KB_{name.upper()}" for name in cls.model_fields if name != "root")


def _under(root: Path, path: Path | str) -> Path:
    path = Path(path)
    return path if path.is_absolute() else root / path
