"""Database tables. Each concern has its own module; importing this package registers them all
on `Base.metadata`, which Alembic compares against the migrations."""

from kb_app.models.base import Base, NAMING_CONVENTION, utcnow
from kb_app.models.roster import IN_HOUSE, TIERS, Agent, RosterSite, RosterVendor
from kb_app.models.users import ROLES, ApiToken, User
from kb_app.models.audit import AuditEvent
from kb_app.models.acks import (
    Acknowledgement,
    Assignment,
    PublishedVersion,
    ReminderLog,
    Requirement,
    RequirementTarget,
)
from kb_app.models.translations import PublishedTranslation
from kb_app.models import quizzes as _quizzes  # noqa: F401  (registers the quiz tables)
from kb_app.models.search_log import SearchClick, SearchQuery  # noqa: F401  (search analytics)
from kb_app.models.releases import Release
from kb_app.models.rollups import CoverageRollup
from kb_app.models.digest import DigestLog
from kb_app.models import improvement as _improvement  # noqa: F401  (feedback, actions)

__all__ = [
    "Acknowledgement",
    "Assignment",
    "CoverageRollup",
    "DigestLog",
    "PublishedTranslation",
    "PublishedVersion",
    "Release",
    "ReminderLog",
    "Requirement",
    "RequirementTarget",
    "RosterSite",
    "RosterVendor",
    "AuditEvent",
    "Agent",
    "ApiToken",
    "Base",
    "IN_HOUSE",
    "NAMING_CONVENTION",
    "ROLES",
    "TIERS",
    "User",
    "utcnow",
]
