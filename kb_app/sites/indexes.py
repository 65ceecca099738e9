"""Generated index pages of a site: home, by tag, by tier, escalation directory, recent changes.

Each function takes the SOPs one audience can read and returns the page's Markdown. Links are
relative Markdown links, so MkDocs checks them and the site works under any URL prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import yaml

from kb_app.catalog import Kind, Sop, Status
from kb_app.sites.render import (
    KIND_LABELS,
    TIER_LABELS,
    ack_marker,
    cell,
    chip,
    duration_text,
    esc,
    full_width,
    is_stale,
    link,
    sla_minutes,
    status_chip,
)

HOME = "index.md"
BY_TAG = "by-tag.md"
BY_TIER = "by-tier.md"
ESCALATION_DIRECTORY = "escalation-directory.md"
RECENT_CHANGES = "recent-changes.md"

INDEX_TITLES = {
    BY_TAG: "By tag",
    BY_TIER: "By tier",
    ESCALATION_DIRECTORY: "Escalation directory",
    RECENT_CHANGES: "Recently changed",
}
SECTION_TITLES = {Kind.BULLETIN: "Bulletins", Kind.SOP: "Procedures", Kind.ESCALATION: "Escalation paths"}
SECTION_ANCHORS = {Kind.BULLETIN: "bulletins", Kind.SOP: "procedures", Kind.ESCALATION: "escalation-paths"}


@dataclass
class IndexContext:
    tier: str
    now: datetime
    sops: list[Sop]  # what this audience can read, sorted by id

    def of_kind(self, kind: Kind) -> list[Sop]:
        # Retired pages go last: they stay findable but out of the way.
        return sorted(
            (s for s in self.sops if s.kind is kind), key=lambda s: (s.status is Status.RETIRED, s.title.lower())
        )

    def open_bulletins(self) -> list[Sop]:
        return sorted((s for s in self.sops if s.is_open_bulletin(self.now)), key=lambda s: s.effective, reverse=True)


def _page(title: str, body: str) -> str:
    front = yaml.safe_dump({"title": title}, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{body.strip()}\n"


def id_code(sop: Sop) -> str:
    return f'<code class="kb-nowrap">{esc(sop.id)}</code>'


def _ref(page: str, sop: Sop, text: str | None = None) -> str:
    return f"[{cell(text or sop.title)}]({link(page, sop.rel_path)})"


def _status_cell(sop: Sop, ctx: IndexContext) -> str:
    out = status_chip(sop)
    if sop.is_open_bulletin(ctx.now):
        out += " " + chip("Open", "open")
    if is_stale(sop, ctx.now.date()):
        out += " " + chip("Review overdue", "stale")
    return out


def _bulletin_admonition(page: str, ctx: IndexContext) -> str:
    bulletins = ctx.open_bulletins()
    if not bulletins:
        return ""
    lines = ['!!! danger "Open bulletins: read and acknowledge these first"', ""]
    for sop in bulletins:
        deadline = f"acknowledge within {duration_text(sop.ack_within)}" if sop.ack_within else ""
        expires = f"; in force until {sop.expires:%Y-%m-%d %H:%M} UTC" if sop.expires else ""
        lines.append(f"    - **{_ref(page, sop)}** ({sop.id}, v{sop.version}): {deadline}{expires}")
    return "\n".join(lines) + "\n"


def _listing(page: str, sops: list[Sop], ctx: IndexContext) -> str:
    rows = ["| Title | Version | Status | Effective | Owner |", "| --- | --- | --- | --- | --- |"]
    for sop in sops:
        rows.append(
            f"| {_ref(page, sop)}<br>{id_code(sop)} | {sop.version} | {_status_cell(sop, ctx)} | "
            f"{sop.effective.isoformat()} | {cell(sop.owner)} |"
        )
    return full_width("\n".join(rows), "listing")


def home_page(ctx: IndexContext) -> str:
    audience = TIER_LABELS[ctx.tier]
    parts = [
        "# Account Security knowledge base",
        f'<p class="kb-home-lead">The {audience} knowledge base for Account Security: '
        f"{len(ctx.sops)} pages, built {ctx.now:%Y-%m-%d %H:%M} UTC.</p>",
        _bulletin_admonition(HOME, ctx),
    ]
    for kind in (Kind.BULLETIN, Kind.SOP, Kind.ESCALATION):
        sops = ctx.of_kind(kind)
        if not sops:
            continue
        parts.append(f"## {SECTION_TITLES[kind]} {{#{SECTION_ANCHORS[kind]}}}\n\n{_listing(HOME, sops, ctx)}")
    browse = [
        f"- [{INDEX_TITLES[BY_TAG]}]({BY_TAG}): every page by topic",
        f"- [{INDEX_TITLES[BY_TIER]}]({BY_TIER}): who must read what",
        f"- [{INDEX_TITLES[ESCALATION_DIRECTORY]}]({ESCALATION_DIRECTORY}): every escalation path with its teams and SLAs",
        f"- [{INDEX_TITLES[RECENT_CHANGES]}]({RECENT_CHANGES}): every change, newest first",
    ]
    parts.append("## Browse {#browse}\n\n" + "\n".join(browse) + "\n")
    return _page("Account Security knowledge base", "\n\n".join(p for p in parts if p))


def by_tag_page(ctx: IndexContext) -> str:
    """Material's tags plugin fills the listing; the table below it is the same list at a glance."""
    tags = sorted({t for s in ctx.sops for t in s.tags})
    rows = ["| Tag | Pages |", "| --- | --- |"]
    for tag in tags:
        pages = ", ".join(_ref(BY_TAG, s, s.id) for s in ctx.sops if tag in s.tags)
        rows.append(f"| `{tag}` | {pages} |")
    body = (
        "Every tag used on a page this audience can read. Select a tag on any page to come back here.\n\n"
        "<!-- material/tags -->\n\n"
        "## All tags at a glance {#kb-all-tags}\n\n" + full_width("\n".join(rows))
    )
    return _page(INDEX_TITLES[BY_TAG], body)


def by_tier_page(ctx: IndexContext) -> str:
    parts = ["Who must read each page. A page for one tier may still be open to the other for reference."]
    for tier in ("T1", "T2"):
        sops = [s for s in ctx.sops if tier in s.audience.tiers]
        if not sops:
            continue
        rows = ["| Title | Kind | Version | Status | Narrowed to |", "| --- | --- | --- | --- | --- |"]
        for sop in sorted(sops, key=lambda s: (s.kind.value, s.title.lower())):
            narrowed = (
                "; ".join(
                    f"{label}: {', '.join(values)}"
                    for label, values in (
                        ("vendors", sop.audience.vendors),
                        ("sites", sop.audience.sites),
                        ("languages", sop.audience.languages),
                    )
                    if values
                )
                or "everyone in the tier"
            )
            rows.append(
                f"| {_ref(BY_TIER, sop)}<br>{id_code(sop)} | {KIND_LABELS[sop.kind]} | {sop.version} | {_status_cell(sop, ctx)} | {cell(narrowed)} |"
            )
        parts.append(
            f"## {TIER_LABELS[tier]} must read {{#must-read-{tier.lower()}}}\n\n"
            + full_width("\n".join(rows), "listing")
        )
    if ctx.tier == "T2":
        t2_only = [s for s in ctx.sops if not s.visible_to("T1")]
        if t2_only:
            items = "\n".join(f"- {_ref(BY_TIER, s)} (`{s.id}`)" for s in t2_only)
            parts.append(
                f"## Tier 2 only pages {{#tier-2-only}}\n\nThese pages never appear on the Tier 1 site.\n\n{items}"
            )
    return _page(INDEX_TITLES[BY_TIER], "\n\n".join(parts))


def escalation_directory_page(ctx: IndexContext) -> str:
    page = ESCALATION_DIRECTORY
    paths = ctx.of_kind(Kind.ESCALATION)
    parts = ["Every escalation path, then every team with the routes into it, fastest SLA first."]
    by_team: dict[str, list[tuple[Sop, int, object]]] = {}
    for path in paths:
        users = [s for s in ctx.sops if path.id in s.escalation]
        rows = ["| # | When | Route | SLA |", "| --- | --- | --- | --- |"]
        for number, step in enumerate(path.steps, start=1):
            route = f"**{TIER_LABELS[step.from_tier]} → {cell(step.to_team)}**<br>via {cell(step.channel)}"
            rows.append(f"| {number} | {cell(step.trigger)} | {route} | **{duration_text(step.sla)}** |")
            by_team.setdefault(step.to_team, []).append((path, number, step))
        used = ", ".join(_ref(page, s, s.id) for s in users) or "no procedure names it yet"
        status = "" if path.status is Status.ACTIVE else " " + status_chip(path)
        parts.append(
            f"## {cell(path.title)} {{#{path.id.lower()}}}\n\n"
            f"{_ref(page, path, 'Open ' + path.id)} · v{path.version}{status} · used by {used}\n\n"
            + full_width("\n".join(rows), "steps")
        )
    if by_team:
        parts.append("## By team {#by-team}")
        for team in sorted(by_team):
            routes = sorted(by_team[team], key=lambda r: (sla_minutes(r[2].sla), r[0].id, r[1]))
            rows = ["| SLA | From | Trigger | Path |", "| --- | --- | --- | --- |"]
            for path, number, step in routes:
                rows.append(
                    f"| {duration_text(step.sla)} | {TIER_LABELS[step.from_tier]} | {cell(step.trigger)} | {_ref(page, path, f'{path.id} step {number}')} |"
                )
            slug = "team-" + "-".join(team.lower().replace("&", " ").split())
            parts.append(f"### {cell(team)} {{#{slug}}}\n\n" + full_width("\n".join(rows)))
    if not paths:
        parts.append("No escalation paths are published for this audience.")
    return _page(INDEX_TITLES[ESCALATION_DIRECTORY], "\n\n".join(parts))


def recent_changes_page(ctx: IndexContext) -> str:
    page = RECENT_CHANGES
    entries = sorted(
        ((item, sop) for sop in ctx.sops for item in sop.changelog),
        key=lambda pair: (pair[0].date, pair[1].id, pair[0].version),
        reverse=True,
    )
    rows = ["| Date | Page | What changed | Acknowledgement |", "| --- | --- | --- | --- |"]
    for item, sop in entries:
        current = " (current)" if item.version == sop.version else ""
        rows.append(
            f"| {item.date.isoformat()} | {_ref(page, sop)}<br>{id_code(sop)} v{item.version}{current} | "
            f"{cell(item.summary)} | {ack_marker(item.ack_required)} |"
        )
    parts = [
        _bulletin_admonition(page, ctx),
        "Every changelog entry, newest first. A change whose acknowledgement is *Required* asks every agent in the "
        "page's audience to read and acknowledge the new text.",
        full_width("\n".join(rows), "changelog"),
    ]
    return _page(INDEX_TITLES[RECENT_CHANGES], "\n\n".join(p for p in parts if p))


def index_pages(ctx: IndexContext) -> dict[str, str]:
    return {
        HOME: home_page(ctx),
        BY_TAG: by_tag_page(ctx),
        BY_TIER: by_tier_page(ctx),
        ESCALATION_DIRECTORY: escalation_directory_page(ctx),
        RECENT_CHANGES: recent_changes_page(ctx),
    }
