"""Feedback from the page: an agent flags one section of an SOP as unclear, outdated, wrong or
missing a step, with a short comment; trainers answer, dismiss or accept it into an action.

A flag names the SOP, the version the agent read (the newest published one unless the page
says otherwise) and the section anchor. The section must exist in that version *as the agent's
tier reads it* (a Tier 1 agent cannot flag a Tier 2-only block or page: it answers like an
unknown one). A flag on a section that the newest version no longer has is refused (the page
the agent has open is out of date); flags raised before a section was removed keep their
version and show as "section since removed".

Comments are plain text: stored as typed (control characters refused), escaped wherever shown.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_app import audit
from kb_app.catalog.sections import split_sections, text_for_tier
from kb_app.models import PublishedVersion, User
from kb_app.models.improvement import (
    ANSWER_CHARS,
    COMMENT_CHARS,
    FLAG_KINDS,
    ActionGap,
    ActionSection,
    FeedbackFlag,
    ImprovementAction,
)
from kb_app.users import audience_of, can_triage
from kb_app.versions import latest_versions

KIND_LABELS = {
    "unclear": "Unclear",
    "outdated": "Outdated",
    "wrong": "Wrong",
    "missing_step": "Missing a step",
}
DECISIONS = ("answer", "dismiss", "accept")
LIST_LIMIT = 500


class FeedbackError(ValueError):
    """A flag or a triage that cannot be carried out: `status` is the HTTP answer it maps to,
    `field` the input at fault."""

    def __init__(self, message: str, *, status: int = 422, code: str = "invalid_feedback", field: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


def clean_text(value: str, *, field: str, limit: int, required: bool = True) -> str:
    """Trimmed plain text of at most `limit` characters; control characters (but newlines and
    tabs) refused."""
    text = (value or "").strip()
    if required and not text:
        raise FeedbackError(f"{field}: say what is wrong (a few words)", field=field)
    if len(text) > limit:
        raise FeedbackError(f"{field}: at most {limit} characters (got {len(text)})", field=field)
    for ch in text:
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cs", "Co"):
            raise FeedbackError(f"{field}: control characters are not allowed", field=field)
    return text.replace("\r\n", "\n")


def _sections(version: PublishedVersion, tier: str) -> dict[str, str]:
    """anchor -> heading of the version's sections as `tier` reads them."""
    return {s.anchor: s.heading for s in split_sections(text_for_tier(version.body, tier))}


def raise_flag(
    session: Session,
    user: User,
    *,
    sop_id: str,
    anchor: str,
    kind: str,
    comment: str,
    version: str | None = None,
    now: datetime,
) -> FeedbackFlag:
    """Store an agent's flag (the caller commits). Unknown, retired-only or other-tier SOPs and
    sections are 404 `not_found`; a section the newest version removed is 409 `section_removed`."""
    if user.role != "agent" or user.agent is None:
        raise FeedbackError("Only agents flag SOP sections.", status=403, code="forbidden")
    if kind not in FLAG_KINDS:
        raise FeedbackError(f"kind: one of {', '.join(FLAG_KINDS)}", field="kind")
    comment = clean_text(comment, field="comment", limit=COMMENT_CHARS)
    tier = audience_of(user)
    versions = list(
        session.scalars(
            select(PublishedVersion).where(PublishedVersion.sop_id == sop_id[:64]).order_by(PublishedVersion.id.desc())
        )
    )
    newest = versions[0] if versions else None
    if newest is None or (tier != "T2" and newest.visibility == "t2_only"):
        raise FeedbackError(f"No SOP {sop_id[:64]}.", status=404, code="not_found", field="sop_id")
    target = newest if version is None else next((v for v in versions if v.version == version), None)
    if target is None:
        raise FeedbackError(f"{sop_id} has no published version {version[:16] if version else ''}.", field="version")
    read = _sections(target, tier)
    if anchor not in read:
        raise FeedbackError(
            f"{sop_id} v{target.version} has no section #{anchor[:200]}.", status=404, code="not_found", field="anchor"
        )
    if target.id != newest.id and anchor not in _sections(newest, tier):
        raise FeedbackError(
            f"The section '{read[anchor]}' is not in {sop_id} v{newest.version} any more: reload the page "
            "and flag what it says now.",
            status=409,
            code="section_removed",
            field="anchor",
        )
    agent = user.agent
    flag = FeedbackFlag(
        created_at=now,
        user_id=user.id,
        version_id=target.id,
        sop_id=target.sop_id,
        version=target.version,
        anchor=anchor,
        section_title=read[anchor][:300] or target.title[:300],
        kind=kind,
        comment=comment,
        tier=tier,
        vendor=agent.vendor,
        site=agent.site,
        status="open",
    )
    session.add(flag)
    session.flush()
    return flag


def flaggable_anchors(session: Session, user: User, sop_id: str) -> list[str]:
    """The sections of the newest version of `sop_id` that `user` may flag ("" is the text before
    the first heading); none for an SOP they cannot read, like an unknown one."""
    if user.role != "agent":
        return []
    tier = audience_of(user)
    newest = session.scalars(
        select(PublishedVersion)
        .where(PublishedVersion.sop_id == sop_id[:64])
        .order_by(PublishedVersion.id.desc())
        .limit(1)
    ).first()
    if newest is None or (tier != "T2" and newest.visibility == "t2_only"):
        return []
    return list(_sections(newest, tier))


@dataclass(frozen=True)
class FlagView:
    flag: FeedbackFlag
    removed: bool  # the newest version no longer has the section
    current_version: str | None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.flag.kind, self.flag.kind)


def _views(session: Session, flags: list[FeedbackFlag]) -> list[FlagView]:
    newest = latest_versions(session)
    anchors: dict[tuple[str, str], set[str]] = {}
    out = []
    for flag in flags:
        current = newest.get(flag.sop_id)
        removed = False
        if current is not None and current.id != flag.version_id:
            key = (flag.sop_id, flag.tier)
            if key not in anchors:
                anchors[key] = set(_sections(current, flag.tier))
            removed = flag.anchor not in anchors[key]
        out.append(FlagView(flag, removed, current.version if current else None))
    return out


def list_flags(
    session: Session,
    *,
    vendor: str | None = None,
    status: str | None = None,
    sop_id: str | None = None,
    tier: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[FlagView]:
    """Flags, newest first; `vendor` confines them to one vendor's agents (a partner manager),
    `tier="T1"` to flags raised by Tier 1 readers (who only ever flag what Tier 1 may read)."""
    query = select(FeedbackFlag).order_by(FeedbackFlag.created_at.desc(), FeedbackFlag.id.desc()).limit(limit)
    if vendor is not None:
        query = query.where(FeedbackFlag.vendor == vendor)
    if tier is not None:
        query = query.where(FeedbackFlag.tier == tier)
    if status is not None:
        query = query.where(FeedbackFlag.status == status)
    if sop_id is not None:
        query = query.where(FeedbackFlag.sop_id == sop_id)
    return _views(session, list(session.scalars(query)))


def list_flags_of_action(session: Session, action_id: int) -> list[FlagView]:
    query = select(FeedbackFlag).where(FeedbackFlag.action_id == action_id).order_by(FeedbackFlag.id)
    return _views(session, list(session.scalars(query)))


def my_flags(session: Session, user: User, *, limit: int = 100) -> list[FlagView]:
    query = (
        select(FeedbackFlag)
        .where(FeedbackFlag.user_id == user.id)
        .order_by(FeedbackFlag.created_at.desc(), FeedbackFlag.id.desc())
        .limit(limit)
    )
    return _views(session, list(session.scalars(query)))


def answered_count(session: Session, user: User, since: datetime | None = None) -> int:
    """How many of the user's flags have been triaged (for a notice on their home page)."""
    query = select(func.count()).where(FeedbackFlag.user_id == user.id, FeedbackFlag.status != "open")
    if since is not None:
        query = query.where(FeedbackFlag.triaged_at >= since)
    return int(session.scalar(query) or 0)


def flag_for(session: Session, flag_id: int, *, vendor: str | None = None) -> FeedbackFlag:
    """One flag; another vendor's (for a vendor-scoped reader) answers like a missing one."""
    flag = session.get(FeedbackFlag, flag_id)
    if flag is None or (vendor is not None and flag.vendor != vendor):
        raise FeedbackError(f"No feedback flag {flag_id}.", status=404, code="not_found", field="flag_id")
    return flag


def triage(
    session: Session,
    actor: User,
    flag_id: int,
    *,
    decision: str,
    answer: str = "",
    action_id: int | None = None,
    now: datetime,
) -> FeedbackFlag:
    """Answer (with text the agent reads), dismiss (a reason is optional) or accept a flag into an
    action (its section and the flag's gap join the action). The caller commits."""
    if not can_triage(actor):
        raise FeedbackError("Only trainers and admins triage feedback.", status=403, code="forbidden")
    if decision not in DECISIONS:
        raise FeedbackError(f"decision: one of {', '.join(DECISIONS)}", field="decision")
    flag = flag_for(session, flag_id)
    text = clean_text(answer, field="answer", limit=ANSWER_CHARS, required=decision == "answer")
    details: dict = {"flag_id": flag.id, "decision": decision}
    if decision == "accept":
        if action_id is None:
            raise FeedbackError("action_id: choose the action this flag goes into", field="action_id")
        action = session.get(ImprovementAction, action_id)
        if action is None:
            raise FeedbackError(f"No action {action_id}.", status=404, code="not_found", field="action_id")
        if action.vendor is not None and action.vendor != flag.vendor:
            raise FeedbackError(
                f"Action {action.id} is about {action.vendor} only; this flag is another vendor's.",
                code="other_vendor",
                field="action_id",
            )
        link_flag(session, action, flag)
        details["action_id"] = action.id
    flag.status = {"answer": "answered", "dismiss": "dismissed", "accept": "accepted"}[decision]
    flag.answer = text
    flag.triaged_by = actor.email
    flag.triaged_at = now
    audit.record(
        session, "feedback.triage", actor=actor.email, actor_user_id=actor.id, target=flag.sop_id, details=details
    )
    return flag


def flag_gap_key(flag: FeedbackFlag) -> str:
    return f"{flag.sop_id}#{flag.anchor}"


def link_flag(session: Session, action: ImprovementAction, flag: FeedbackFlag) -> None:
    """Tie a flag to an action: the action gains the flag's section and gap."""
    if not any(s.sop_id == flag.sop_id and s.anchor == flag.anchor for s in action.sections):
        action.sections.append(ActionSection(sop_id=flag.sop_id, anchor=flag.anchor))
    key = flag_gap_key(flag)
    if not any(g.gap_key == key for g in action.gaps):
        action.gaps.append(ActionGap(gap_key=key, queries=""))
    flag.action_id = action.id
    flag.status = "accepted"
