"""One SOP as a site page: the metadata card, the escalation diagram and table, the changelog.

Everything here returns Markdown (with small raw-HTML pieces) for the staging docs dir; MkDocs
renders it. Headings added here carry explicit `kb-` ids so the author's section anchors stay
exactly what the catalog computed.
"""

from __future__ import annotations

import html
import posixpath
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import yaml

from kb_app.catalog import Kind, Sop, Status, Visibility, parse_duration
from kb_app.catalog.facts import duration_words
from kb_app.catalog.languages import SOURCE_LANGUAGE
from kb_app.sites.translated import ServedPage, notice, served_page

TIER_LABELS = {"T1": "Tier 1", "T2": "Tier 2"}
KIND_LABELS = {Kind.SOP: "Procedure", Kind.ESCALATION: "Escalation path", Kind.BULLETIN: "Bulletin"}
STATUS_LABELS = {Status.ACTIVE: "Active", Status.DRAFT: "Draft", Status.RETIRED: "Retired"}

CHANGELOG_ANCHOR = "kb-changelog"
REFERENCES_ANCHOR = "kb-references"
FLOW_ANCHOR = "kb-escalation-flow"
STEPS_ANCHOR = "kb-escalation-steps"


@dataclass
class PageContext:
    """What a page needs to know about the site it is rendered for."""

    tier: str
    now: datetime
    diagrams: bool  # mermaid.js is bundled with the site, so ```mermaid fences can render
    visible: dict[str, Sop] = field(default_factory=dict)  # id -> SOP this tier can read

    @property
    def today(self) -> date:
        return self.now.date()


def is_stale(sop: Sop, today: date) -> bool:
    return sop.review_by < today and sop.status is not Status.RETIRED


def link(from_page: str, to_page: str, anchor: str = "") -> str:
    """Relative Markdown link target from one docs file to another (MkDocs resolves it)."""
    target = posixpath.relpath(to_page, posixpath.dirname(from_page) or ".")
    return f"{target}#{anchor}" if anchor else target


def duration_text(value: str | timedelta) -> str:
    """`4h` -> `4 hours`, `30m` -> `30 minutes`, `1d` -> `1 day`."""
    delta = parse_duration(value) if isinstance(value, str) else value
    minutes = int(delta.total_seconds() // 60)
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            amount = minutes // size
            return f"{amount} {unit}{'' if amount == 1 else 's'}"
    return f"{minutes} minutes"


def sla_minutes(value: str) -> int:
    return int(parse_duration(value).total_seconds() // 60)


def tiers_text(tiers: list[str]) -> str:
    return " and ".join(TIER_LABELS[t] for t in tiers)


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, no pipes, no raw HTML."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;")


def full_width(table: str, kind: str = "") -> str:
    """A Markdown table that spans the content width (Material sizes tables to their content)."""
    classes = f"kb-table kb-table--{kind}" if kind else "kb-table"
    return f'<div class="{classes}" markdown="block">\n\n{table.strip()}\n\n</div>\n'


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def chip(text: str, kind: str, title: str = "") -> str:
    title_attr = f' title="{esc(title)}"' if title else ""
    return f'<span class="kb-chip kb-chip--{kind}"{title_attr}>{esc(text)}</span>'


def status_chip(sop: Sop) -> str:
    return chip(STATUS_LABELS[sop.status], f"status kb-chip--{sop.status.value}")


def ack_marker(required: bool) -> str:
    if required:
        return '<span class="kb-ack" title="Acknowledgement required: every agent in the audience must acknowledge this version">Required</span>'
    return '<span class="kb-ack kb-ack--none">No</span>'


def _time(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return f'<time datetime="{value.isoformat()}">{value:%Y-%m-%d %H:%M} UTC</time>'
    return f'<time datetime="{value.isoformat()}">{value.isoformat()}</time>'


# --- the metadata card ---------------------------------------------------------------------


def _audience_text(sop: Sop) -> str:
    parts = [tiers_text(sop.audience.tiers)]
    for label, values in (
        ("vendors", sop.audience.vendors),
        ("sites", sop.audience.sites),
        ("languages", sop.audience.languages),
    ):
        if values:
            parts.append(f"{label}: {', '.join(values)}")
    return " · ".join(esc(p) for p in parts)


def _card_notice(sop: Sop, ctx: PageContext) -> str:
    if sop.status is Status.RETIRED:
        return (
            '<p class="kb-meta__notice kb-meta__notice--retired"><strong>Retired.</strong> '
            "This procedure is no longer in force. Do not follow it with customers; "
            "use the procedures linked from the home page instead.</p>"
        )
    if sop.status is Status.DRAFT:
        return (
            '<p class="kb-meta__notice kb-meta__notice--draft"><strong>Draft: not in force.</strong> '
            "Only this preview shows it; agents' sites and search leave drafts out until the page is published "
            "as active.</p>"
        )
    if is_stale(sop, ctx.today):
        return (
            f'<p class="kb-meta__notice kb-meta__notice--stale"><strong>Review overdue.</strong> '
            f"This page was due for review on {sop.review_by.isoformat()}. It is still the procedure in force; "
            f"tell {esc(sop.owner)} if something in it looks out of date.</p>"
        )
    return ""


def _link_row(sop: Sop, ctx: PageContext, label: str, ids: list[str]) -> str:
    targets = [ctx.visible[i] for i in ids if i in ctx.visible]
    if not targets:
        return ""
    links = ", ".join(f'[{t.id}]({link(sop.rel_path, t.rel_path)} "{cell(t.title)}")' for t in targets)
    return f'<div class="kb-meta__links" markdown="span"><span class="kb-meta__label">{label}</span> {links}</div>'


def metadata_card(sop: Sop, ctx: PageContext) -> str:
    """The compact card under the title: chips, the dates, owner and audience, linked paths."""
    stale = is_stale(sop, ctx.today)
    chips = [
        chip(sop.id, "id", "SOP id"),
        chip(f"v{sop.version}", "version", "Current version"),
        status_chip(sop),
        chip(KIND_LABELS[sop.kind], "kind"),
    ]
    if stale:
        chips.append(chip("Review overdue", "stale", f"review_by {sop.review_by.isoformat()} has passed"))
    if sop.visibility is Visibility.T2_ONLY:
        chips.append(chip("Tier 2 only", "t2only", "Never shown to Tier 1"))
    if sop.kind is Kind.BULLETIN:
        chips.append(chip("Open", "open") if sop.is_open_bulletin(ctx.now) else chip("Closed", "closed"))

    review_class = "kb-meta__value kb-meta__value--stale" if stale else "kb-meta__value"
    facts = [
        ("Effective", _time(sop.effective), "kb-meta__value", ""),
        (
            "Review by",
            _time(sop.review_by),
            review_class,
            f' data-kb-review-by="{sop.review_by.isoformat()}"' if sop.status is not Status.RETIRED else "",
        ),
        ("Owner", esc(sop.owner), "kb-meta__value", ""),
        ("Audience", _audience_text(sop), "kb-meta__value", ""),
    ]
    if sop.ack_within is not None:
        facts.append(("Acknowledge within", esc(duration_text(sop.ack_within)), "kb-meta__value", ""))
    if sop.expires is not None:
        facts.append(("Expires", _time(sop.expires), "kb-meta__value", ""))
    grid = "".join(
        f'<div class="kb-meta__fact"><dt>{label}</dt><dd class="{cls}"{attrs}>{value}</dd></div>'
        for label, value, cls, attrs in facts
    )

    rows = [
        f'<div class="kb-meta__chips">{" ".join(chips)}</div>',
        f'<dl class="kb-meta__facts">{grid}</dl>',
        _link_row(sop, ctx, "Escalation paths", sop.escalation),
        _link_row(sop, ctx, "Related", sop.related),
        _card_notice(sop, ctx),
    ]
    body = "\n".join(r for r in rows if r)
    return (
        f'<div class="kb-meta kb-meta--{sop.status.value}" markdown="block" data-kb-id="{esc(sop.id)}">\n{body}\n</div>'
    )


# --- escalation steps: mermaid flowchart and table ---------------------------------------------

_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "`": "#96;"}


def mermaid_text(text: str) -> str:
    """Text safe inside a quoted mermaid label (`#` first: the entities themselves use it)."""
    text = " ".join(str(text).split())
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text)


def _node_id(prefix: str, name: str) -> str:
    return f"{prefix}_{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}"


def escalation_flowchart(sop: Sop) -> str:
    """Mermaid flowchart: each trigger -> the tier that raises it -> the team, edge = channel + SLA."""
    lines = [
        "flowchart LR",
        # Translucent fills: Material sets the label colour per light/dark scheme, so both read well.
        "  classDef trigger fill:#d977062e,stroke:#d97706",
        "  classDef tierT1 fill:#2563eb2e,stroke:#2563eb",
        "  classDef tierT2 fill:#7c3aed2e,stroke:#7c3aed",
        "  classDef team fill:#15803d2e,stroke:#15803d",
    ]
    tiers = sorted({s.from_tier for s in sop.steps})
    for tier in tiers:
        lines.append(f'  tier_{tier}(["{TIER_LABELS[tier]}"]):::tier{tier}')
    teams: dict[str, str] = {}
    for step in sop.steps:
        teams.setdefault(step.to_team, _node_id("team", step.to_team))
    for team, node in teams.items():
        lines.append(f'  {node}["{mermaid_text(team)}"]:::team')
    for number, step in enumerate(sop.steps, start=1):
        lines.append(f'  step{number}["{number}. {mermaid_text(step.trigger)}"]:::trigger')
        lines.append(f"  step{number} --> tier_{step.from_tier}")
        label = f"{number}. {mermaid_text(step.channel)}<br/>SLA {mermaid_text(step.sla)}"
        lines.append(f'  tier_{step.from_tier} -->|"{label}"| {teams[step.to_team]}')
    return "\n".join(lines) + "\n"


def escalation_section(sop: Sop, ctx: PageContext) -> str:
    chart = escalation_flowchart(sop)
    if ctx.diagrams:
        diagram = f'<div class="kb-flow" markdown="block">\n\n```mermaid\n{chart}```\n\n</div>\n'
    else:
        # No bundled mermaid.js: Material would fetch it from a CDN, which offline agents cannot
        # reach. Keep the source readable instead.
        diagram = (
            '!!! note "Diagram source"\n'
            "    The diagram library was not available when this site was built, so the diagram source is shown.\n\n"
            f"```text\n{chart}```\n"
        )
    told = any(step.customer_told for step in sop.steps)
    rows = [
        "| # | When | Route | SLA |" + (" Customer told |" if told else "") + " Required case fields |",
        "| --- | --- | --- | --- |" + (" --- |" if told else "") + " --- |",
    ]
    for number, step in enumerate(sop.steps, start=1):
        fields = " ".join(f'<code class="kb-nowrap">{esc(f)}</code>' for f in step.required_fields)
        if fields:
            fields = f'<span data-kb-copy="{esc(", ".join(step.required_fields))}">{fields}</span>'
        route = f"**{TIER_LABELS[step.from_tier]} → {cell(step.to_team)}**<br>via {cell(step.channel)}"
        promise = ""
        if told:
            promise = f" within {duration_words(step.customer_told)} |" if step.customer_told else " n/a |"
        rows.append(
            f"| {number} | {cell(step.trigger)} | {route} | **{duration_text(step.sla)}** |{promise} {fields} |"
        )
    table = "\n".join(rows)
    return (
        f"## Escalation flow {{#{FLOW_ANCHOR}}}\n\n{diagram}\n{step_list(sop)}\n"
        f"## Steps and required case fields {{#{STEPS_ANCHOR}}}\n\n" + full_width(table, "steps")
    )


def step_list(sop: Sop) -> str:
    """The escalation steps as a list: what a phone shows instead of the flowchart and the wide
    table (kb.css); each list of case fields carries its copy text."""
    items = []
    for step in sop.steps:
        facts = [
            ("When", esc(step.trigger)),
            ("Route", f"{TIER_LABELS[step.from_tier]} → {esc(step.to_team)}, via {esc(step.channel)}"),
            ("SLA", esc(duration_text(step.sla))),
        ]
        if step.customer_told:
            facts.append(("Customer told", f"within {esc(duration_words(step.customer_told))}"))
        if step.required_fields:
            codes = ", ".join(f"<code>{esc(f)}</code>" for f in step.required_fields)
            copy = esc(", ".join(step.required_fields))
            facts.append(("Required case fields", f'<span data-kb-copy="{copy}">{codes}</span>'))
        facts_html = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
        items.append(f"<li><dl>{facts_html}</dl></li>")
    return f'<ol class="kb-step-list" aria-label="Escalation steps">{"".join(items)}</ol>\n'


# --- references and review record --------------------------------------------------------------

REVIEW_STATE_TEXT = {
    "current": "Reviewed at the current major version.",
    "stale": "Not reviewed since the last material change: a review is due.",
    "never": "No expert review recorded yet.",
}


def references_section(sop: Sop) -> str:
    """Public sources the rules rest on, and who reviewed which version against them ('' if none)."""
    if not sop.references and not sop.reviews:
        return ""
    parts = [f"## References and reviews {{#{REFERENCES_ANCHOR}}}\n"]
    if sop.references:
        items = []
        for ref in sop.references:
            title = f"[{cell(ref.title)}]({ref.url})" if ref.url else cell(ref.title)
            supports = f": {cell(ref.supports)}" if ref.supports else ""
            items.append(f"- **{cell(ref.id)}** {title}{supports}")
        parts.append("\n".join(items) + "\n")
    state = sop.review_state
    parts.append(f'<p class="kb-review kb-review--{state}">{esc(REVIEW_STATE_TEXT[state])}</p>\n')
    if sop.reviews:
        rows = ["| Version | Date | Reviewer | Against | Notes |", "| --- | --- | --- | --- | --- |"]
        for review in sop.reviews:
            against = ", ".join(review.against) or "n/a"
            rows.append(
                f"| {cell(review.version)} | {review.date.isoformat()} | {cell(review.reviewer)} | {cell(against)} | {cell(review.notes or '')} |"
            )
        parts.append(full_width("\n".join(rows), "reviews"))
    return "\n".join(parts)


# --- changelog ---------------------------------------------------------------------------------


def changelog_section(sop: Sop) -> str:
    rows = ["| Version | Date | What changed | Acknowledgement |", "| --- | --- | --- | --- |"]
    for index, item in enumerate(sop.changelog):
        version = f"**{item.version}** (current)" if index == 0 else item.version
        rows.append(f"| {version} | {item.date.isoformat()} | {cell(item.summary)} | {ack_marker(item.ack_required)} |")
    return f"## Changelog {{#{CHANGELOG_ANCHOR}}}\n\n" + full_width("\n".join(rows), "changelog")


# --- the whole page ----------------------------------------------------------------------------


def page_front_matter(sop: Sop, ctx: PageContext, served: ServedPage | None = None) -> dict:
    served = served or served_page(sop, None, ctx.tier, SOURCE_LANGUAGE, ctx.today)
    return {
        "title": served.title,
        "tags": list(sop.tags),
        "kb_id": sop.id,
        "kb_version": sop.version,
        "kb_status": sop.status.value,
        "kb_content_hash": served.content_hash,
        # The language of the text served and how its translation stands (the web app records both).
        "kb_language": served.language,
        "kb_translation_state": served.state,
        "kb_diagram": bool(sop.steps) and ctx.diagrams,
    }


def sop_page(sop: Sop, ctx: PageContext, served: ServedPage | None = None) -> str:
    """The staged Markdown of one SOP as readers of `ctx.tier` see it, in the served language."""
    served = served or served_page(sop, None, ctx.tier, SOURCE_LANGUAGE, ctx.today)
    front = yaml.safe_dump(page_front_matter(sop, ctx, served), sort_keys=False, allow_unicode=True)
    parts = [f"---\n{front}---\n", metadata_card(sop, ctx)]
    note = notice(served)
    if note:
        parts.append(note)
    if sop.steps:
        parts.append(escalation_section(sop, ctx))
    body = served.body.strip("\n")
    parts.append(body)
    references = references_section(sop)
    if references:
        parts.append(references)
    parts.append(changelog_section(sop))
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"
