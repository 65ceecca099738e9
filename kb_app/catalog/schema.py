"""The SOP front matter schema (see sop/README.md), validated with pydantic."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

SOP_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")
DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$")
TIERS = ("T1", "T2")
TEAMS = (
    "Account Security Tier 1",
    "Account Security Tier 2",
    "Account Security Training",
    "Threat Management",
    "Policy",
    "Product",
    "Privacy & Investigations",
    "Partner Management",
    "Training",
)


class Kind(str, Enum):
    SOP = "sop"
    ESCALATION = "escalation"
    BULLETIN = "bulletin"


class Status(str, Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class Visibility(str, Enum):
    ALL = "all"
    T2_ONLY = "t2_only"


def parse_version(value: str) -> tuple[int, int]:
    match = VERSION.match(value)
    if not match:
        raise ValueError(f'version {value!r} is not MAJOR.MINOR (for example "2.0")')
    return int(match.group(1)), int(match.group(2))


def parse_duration(value: str) -> timedelta:
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"duration {value!r} is not a number followed by m, h or d (for example 4h)")
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise ValueError(f"duration {value!r} must be greater than zero")
    return {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]


def _as_text(value):
    # YAML reads `version: 2` as an int; accept it as "2" and let the pattern reject it clearly.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


VersionStr = Annotated[str, BeforeValidator(_as_text)]
DurationStr = Annotated[str, BeforeValidator(_as_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Audience(_Strict):
    tiers: list[Literal["T1", "T2"]] = Field(min_length=1)
    vendors: list[str] = []
    sites: list[str] = []
    languages: list[str] = []

    @field_validator("tiers")
    @classmethod
    def _unique_tiers(cls, tiers: list[str]) -> list[str]:
        if len(set(tiers)) != len(tiers):
            raise ValueError("tiers are listed twice")
        return sorted(tiers)


class ChangelogEntry(_Strict):
    version: VersionStr
    date: date
    summary: str = Field(min_length=1)
    ack_required: bool | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        parse_version(value)
        return value


class EscalationStep(_Strict):
    trigger: str = Field(min_length=1)
    from_tier: Literal["T1", "T2"]
    to_team: str
    channel: str = Field(min_length=1)
    sla: DurationStr
    required_fields: list[str] = Field(min_length=1)

    @field_validator("to_team")
    @classmethod
    def _team(cls, value: str) -> str:
        if value not in TEAMS:
            raise ValueError(f"unknown team {value!r}; known teams: {', '.join(TEAMS)}")
        return value

    @field_validator("sla")
    @classmethod
    def _sla(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("required_fields")
    @classmethod
    def _fields(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
                raise ValueError(f"case field {value!r} must be snake_case (for example case_id)")
        return values


class Reference(_Strict):
    """A public source a rule of the SOP rests on; shown on the SOP's page."""

    id: str
    title: str = Field(min_length=1)
    url: str | None = None
    supports: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*", value):
            raise ValueError(
                f"reference id {value!r} must be upper-case letters, digits and dashes (for example OWASP-FP)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://\S+$", value):
            raise ValueError(f"reference url {value!r} must be an http(s) address")
        return value


class Review(_Strict):
    """One expert review of one version: who, when, against which references."""

    version: VersionStr
    date: date
    reviewer: str = Field(min_length=1)
    against: list[str] = []
    notes: str | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        parse_version(value)
        return value


class FrontMatterModel(_Strict):
    id: str
    title: str = Field(min_length=1)
    kind: Kind
    version: VersionStr
    status: Status
    owner: str = Field(min_length=1)
    audience: Audience
    visibility: Visibility = Visibility.ALL
    effective: date
    review_by: date
    tags: list[str] = []
    related: list[str] = []
    escalation: list[str] = []
    changelog: list[ChangelogEntry] = Field(min_length=1)
    steps: list[EscalationStep] | None = None
    references: list[Reference] = []
    reviews: list[Review] = []
    ack_within: DurationStr | None = None
    expires: datetime | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not SOP_ID.match(value):
            raise ValueError(f"id {value!r} must be upper-case letters, digits and dashes, starting with a letter")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        parse_version(value)
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", value):
                raise ValueError(f"tag {value!r} must be lower-case letters, digits and dashes")
        if len(set(values)) != len(values):
            raise ValueError("a tag is listed twice")
        return values

    @field_validator("ack_within")
    @classmethod
    def _ack_within(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("expires")
    @classmethod
    def _expires(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value
