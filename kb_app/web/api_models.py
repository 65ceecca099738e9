"""The pydantic models of every /api/v1 request and response body.

Requests: every string is bounded and refuses control characters (a NUL byte never reaches the
database), every number has its range, every choice its enum; the contract turns a violation into
a 400 naming the field. Responses: built from the core's objects by the `of(...)` constructors,
so the routes never write a dictionary by hand. `/api/v1/openapi.json` is generated from these
classes (see `kb_app.web.contract`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictBool, StringConstraints, WithJsonSchema

# --- shared field types -------------------------------------------------------------------------

# No C0 control characters and no DEL: what a roster name, an id or a query may never hold.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
MAX_INT = 2**31 - 1  # every integer id and count in the schema fits a 32-bit column


# Single-line text of at most N characters.
Line8 = Annotated[str, StringConstraints(max_length=8, pattern=SINGLE_LINE)]
Line16 = Annotated[str, StringConstraints(max_length=16, pattern=SINGLE_LINE)]
Line64 = Annotated[str, StringConstraints(max_length=64, pattern=SINGLE_LINE)]
Line100 = Annotated[str, StringConstraints(max_length=100, pattern=SINGLE_LINE)]
Line128 = Annotated[str, StringConstraints(max_length=128, pattern=SINGLE_LINE)]
Line200 = Annotated[str, StringConstraints(max_length=200, pattern=SINGLE_LINE)]
Line300 = Annotated[str, StringConstraints(max_length=300, pattern=SINGLE_LINE)]
Line1024 = Annotated[str, StringConstraints(max_length=1024, pattern=SINGLE_LINE)]
Hash = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=SINGLE_LINE)]


Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Day = Annotated[
    date,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date"}),
]
Tier = Literal["T1", "T2"]
Role = Literal["agent", "partner_manager", "trainer", "admin", "lead"]


class Request(BaseModel):
    """Request bodies: unknown fields are refused, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query strings: unknown parameters are ignored (links carry page state), known ones checked."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- me and the roster -------------------------------------------------------------------------


class Agent(Out):
    """A roster entry"""

    employee_id: str
    name: str
    email: str
    tier: Tier
    vendor: str = Field(description="BPO vendor code or in-house")
    site: str
    team: str
    language: str
    manager: str | None
    start_date: Day
    active: bool

    @classmethod
    def of(cls, agent: Any) -> Agent:
        return cls(**{name: getattr(agent, name) for name in cls.model_fields})


class Me(Out):
    """The signed-in user or token owner"""

    id: int
    email: str
    name: str
    role: Role
    vendor: str | None
    audience: Tier
    agent: Agent | None


class RosterQuery(Query):
    vendor: Line64 | None = Field(None, description="Vendor code; a partner manager may only name their own (403).")
    site: Line64 | None = Field(None, description="Site code, e.g. manila.")
    team: Line128 | None = None
    tier: Tier | None = None
    language: Line16 | None = Field(None, description="ISO 639-1 code.")
    active: Literal["true", "false", "1", "0", "yes", "no"] | None = Field(None, description="Both when absent.")
    q: Line100 | None = Field(None, description="Substring of name, employee id or email.")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10**9)


class RosterPage(Out):
    """A page of agents"""

    total: int
    limit: int
    offset: int
    agents: list[Agent]


class RosterSummaryQuery(Query):
    by: Annotated[
        str,
        StringConstraints(
            max_length=64, pattern=r"^(vendor|site|team|tier|language)(,(vendor|site|team|tier|language)){0,2}$"
        ),
    ] = Field("vendor,site", description="Comma-separated: 1 to 3 of vendor, site, team, tier, language.")
    vendor: Line64 | None = None


class Counts(Out):
    agents: int
    active: int
    inactive: int
    t1: int = Field(description="active Tier 1 agents")
    t2: int = Field(description="active Tier 2 agents")


class SummaryGroup(Counts):
    model_config = ConfigDict(extra="allow")  # plus the grouping columns named in `by`


class RosterSummary(Out):
    """Agent counts per group, computed in the database"""

    by: list[str]
    vendor: str | None
    groups: list[SummaryGroup]
    totals: Counts


class RosterImport(Request):
    """Roster entries with the roster CSV's fields (manager and active optional). Each row is
    checked like a CSV row: every problem is reported with its row number, nothing half-applied."""

    agents: list[Any] = Field(max_length=200_000)
    deactivate_missing: StrictBool = False
    dry_run: StrictBool = False


class FieldChange(Out):
    old: Any
    new: Any


class RosterChange(Out):
    employee_id: str
    line: int
    fields: dict[str, FieldChange]


class ImportCounts(Out):
    new: int
    changed: int
    unchanged: int
    deactivated: int


class ImportResult(Out):
    """What changed (or would change, for a dry run)"""

    dry_run: bool
    counts: ImportCounts
    changed_fields: dict[str, int]
    changes: list[RosterChange]
    deactivated: list[str]

    @classmethod
    def of(cls, plan: Any, *, dry_run: bool, detail_limit: int) -> ImportResult:
        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, date) else value

        return cls(
            dry_run=dry_run,
            counts=ImportCounts(**plan.counts()),
            changed_fields=plan.field_counts(),
            changes=[
                RosterChange(
                    employee_id=row.employee_id,
                    line=row.line,
                    fields={k: FieldChange(old=plain(o), new=plain(n)) for k, (o, n) in changes.items()},
                )
                for _, row, changes in plan.changed[:detail_limit]
            ],
            deactivated=[employee_id for _, employee_id in plan.deactivated],
        )


class Problem(Out):
    path: str
    line: int
    severity: str
    message: str

    @classmethod
    def of(cls, problem: Any) -> Problem:
        return cls(path=problem.path, line=problem.line, severity=problem.severity.value, message=problem.message)


# --- reading list, changes, acknowledgements, banner, coverage ---------------------------------


class ReadingItem(Out):
    requirement_id: int
    sop_id: str
    title: str
    version: str
    summary: str
    due_at: Timestamp
    status: Literal["pending", "overdue"]
    is_bulletin: bool
    last_acknowledged_version: str | None
    path: str
    acknowledged_at: Timestamp | None = Field(description="Set when acknowledged but waiting for an update quiz")
    quiz_required: list[str] | None = Field(description="Pass one of these update quizzes for it to count")
    change: Literal["new", "major", "minor"] = Field(
        description="new: never acknowledged before; major: a material change since the version last acknowledged; "
        "minor: an editorial one"
    )

    @classmethod
    def of(cls, item: Any) -> ReadingItem:
        return cls(
            requirement_id=item.requirement_id,
            sop_id=item.sop_id,
            title=item.title,
            version=item.version,
            summary=item.summary,
            due_at=item.due_at,
            status="overdue" if item.overdue else "pending",
            is_bulletin=item.is_bulletin,
            last_acknowledged_version=item.last_acknowledged,
            path=item.path,
            acknowledged_at=item.acknowledged_at,
            quiz_required=item.quiz_bank_ids or None,
            change=item.change,
        )


class QuizReview(Out):
    """A reading task after a failed quiz: the sections behind the missed questions"""

    task_id: int
    bank_id: str
    sources: list[str]
    sections_read: int
    all_read: bool

    @classmethod
    def of(cls, task: Any) -> QuizReview:
        """From a `kb_app.acks.standing.ReviewFacts`."""
        return cls(
            task_id=task.task_id,
            bank_id=task.bank_id,
            sources=task.sources,
            sections_read=task.sections_read,
            all_read=task.all_read,
        )


class ReadingList(Out):
    """The agent's open, unacknowledged requirements, soonest due first"""

    items: list[ReadingItem]
    quiz_review: list[QuizReview] = Field(description="Reading tasks after a failed quiz")


class DiffLine(Out):
    kind: Literal["add", "remove", "context", "skip"]
    text: str


class SectionChange(Out):
    anchor: str
    heading: str
    status: Literal["added", "removed", "changed", "unchanged"]
    lines: list[DiffLine]

    @classmethod
    def of(cls, section: Any) -> SectionChange:
        return cls(
            anchor=section.anchor,
            heading=section.heading,
            status=section.status,
            lines=[DiffLine(kind=line.kind, text=line.text) for line in section.lines],
        )


class RenderedChange(Out):
    """One section of the rendered redline: the page's HTML with inserted words in `<ins>` and
    deleted ones in `<del>` (empty for unchanged sections)"""

    anchor: str
    heading: str
    status: Literal["added", "removed", "changed", "unchanged"]
    html: str
    words_inserted: int
    words_deleted: int

    @classmethod
    def of(cls, section: Any) -> RenderedChange:
        return cls(
            anchor=section.anchor,
            heading=section.heading,
            status=section.status,
            html=section.html,
            words_inserted=section.words_inserted,
            words_deleted=section.words_deleted,
        )


class SopChanges(Out):
    """What changed since the version the agent last acknowledged"""

    sop_id: str
    version: str
    content_hash: str = Field(description="What POST /acknowledgements must send")
    previous_version: str | None
    acknowledged_at: Timestamp | None
    sections: list[SectionChange] | None
    text: str | None = Field(description="The full text when the agent never acknowledged this SOP")
    language: str = Field(description="Language of the text (ISO 639-1); send it back when acknowledging")
    translation_state: Literal["current", "minor-behind", "stale", "missing"] | None = Field(
        description="How the agent's language's translation stands; stale or missing means the source text is served"
    )
    rendered: list[RenderedChange] | None = Field(
        None, description="The same change as the page shows it: a word-level redline of the rendered text, by section"
    )


class ChangesQuery(Query):
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] | None = Field(
        None, description="Read in this language (default: the agent's roster language)"
    )


class SopPath(Request):
    sop_id: Id


class AcknowledgementRequest(Request):
    sop_id: Id
    content_hash: Hash = Field(description="The content_hash of GET /sops/{sop_id}/changes")
    version: Line16 | None = Field(None, description="Refuse unless this is the current version")
    language: Line8 | None = Field(
        None,
        description="Language of the text read (from GET /sops/{sop_id}/changes); 409 `translation_stale` "
        "when that text is a translation missing the current major change",
    )


class Acknowledgement(Out):
    """The acknowledgement (the first record when it already existed)"""

    sop_id: str
    version: str
    content_hash: str
    acknowledged_at: Timestamp
    channel: Literal["web", "api", "cli"]
    language: str | None = Field(description="Language of the text acknowledged")
    created: bool


class BannerQuery(Query):
    path: Line1024 | None = Field(None, description="The page path, e.g. /sop/procedures/ato-recovery/")


class PageBanner(Out):
    sop_id: str
    state: Literal["acknowledged", "action_required", "overdue", "quiz_required", "none"]
    version: str
    acknowledged_at: Timestamp | None
    due_at: Timestamp | None
    quiz_required: list[str] | None = Field(description="quiz_required: pass one of these for it to count")
    read_url: str

    @classmethod
    def of(cls, banner: Any, read_url: str) -> PageBanner:
        return cls(
            sop_id=banner.sop_id,
            state=banner.state,
            version=banner.version,
            acknowledged_at=banner.acknowledged_at,
            due_at=banner.due_at,
            quiz_required=banner.quiz_bank_ids,
            read_url=read_url,
        )


class Bulletin(Out):
    sop_id: str
    title: str
    version: str
    url: str
    expires_at: Timestamp | None


class Banner(Out):
    """What an SOP page tells the signed-in reader, and the open bulletins"""

    text: str = Field(description="One line for the page's announce bar; empty when there is nothing to say")
    level: Literal["info", "warning", "danger"]
    url: str | None = Field(description="Where the text links to")
    page: PageBanner | None
    bulletins: list[Bulletin]


COVERAGE_GROUP = r"(requirement|sop|vendor|site|team|team_leader|language|tier)"


class CoverageQuery(Query):
    by: Annotated[str, StringConstraints(max_length=128, pattern=rf"^{COVERAGE_GROUP}(,{COVERAGE_GROUP}){{0,7}}$")] = (
        Field(
            "requirement",
            description="Comma-separated: requirement, sop, vendor, site, team, team_leader, language, tier.",
        )
    )
    requirement: int | None = Field(None, ge=1, le=MAX_INT)
    sop: Line64 | None = None
    vendor: Line64 | None = None
    site: Line64 | None = None
    team: Line128 | None = None
    closed: Literal["0", "1"] | None = Field(None, description="1: include closed requirements")


class CoverageRow(Out):
    """The grouping columns (requirement_id, sop_id, version, vendor, ...), then the counts."""

    model_config = ConfigDict(extra="allow")
    population: int
    on_time: int
    late: int
    pending: int
    overdue: int
    awaiting_quiz: int = Field(description="Of pending and overdue: acknowledged, gating update quiz not passed yet")
    acknowledged_pct: float
    median_hours_to_ack: float | None

    @classmethod
    def of(cls, row: Any) -> CoverageRow:
        return cls(
            **row.group,
            population=row.population,
            on_time=row.on_time,
            late=row.late,
            pending=row.pending,
            overdue=row.overdue,
            awaiting_quiz=row.awaiting_quiz,
            acknowledged_pct=row.percent_acknowledged,
            median_hours_to_ack=row.median_hours_to_ack,
        )


class Coverage(Out):
    """Coverage rows"""

    rows: list[CoverageRow]


# --- readiness for a crisis ------------------------------------------------------------------------

READINESS_GROUP = r"(vendor|site|team|team_leader|language|tier)"


class ReadinessQuery(Query):
    by: Annotated[str, StringConstraints(max_length=96, pattern=rf"^{READINESS_GROUP}(,{READINESS_GROUP}){{0,5}}$")] = (
        Field("vendor,site", description="Comma-separated: vendor, site, team, team_leader, language, tier.")
    )
    vendor: Line64 | None = None
    site: Line64 | None = None
    team: Line128 | None = None


class ReadinessRow(Out):
    """The grouping columns (vendor, site, ...), then active agents and why the others are not ready."""

    model_config = ConfigDict(extra="allow")
    headcount: int = Field(description="Active agents")
    ready: int = Field(description="Active, certified for their tier, every open requirement covered")
    ready_pct: float
    not_ready: int
    not_certified: int
    not_acknowledged: int = Field(description="Certified, but an open requirement not acknowledged")
    awaiting_quiz: int = Field(description="Certified and all acknowledged, but a gating update quiz not passed")


class BulletinProjection(Out):
    vendor: str | None = Field(description="None: every vendor in scope")
    population: int
    acknowledged: int
    acknowledged_pct: float
    remaining: int
    acknowledged_last_window: int
    window_hours: float
    rate_per_hour: float | None
    state: Literal["complete", "on_track", "late", "cannot_project", "no_agents"]
    projected_full_at: Timestamp | None
    hours_to_full: float | None
    note: str


class CurvePoint(Out):
    hours: float = Field(description="Since the bulletin opened")
    acknowledged: int = Field(description="Cumulative")


class BulletinReadiness(Out):
    requirement_id: int
    sop_id: str
    version: str
    title: str
    opened_at: Timestamp
    due_at: Timestamp
    deadline_hours: float
    elapsed_hours: float
    overall: BulletinProjection
    by_vendor: list[BulletinProjection]
    curve: list[CurvePoint]


class Readiness(Out):
    """Readiness by roster dimension, and each open bulletin's curve and projection by vendor."""

    by: list[str]
    vendor: str | None = Field(description="The vendor the figures are confined to, if any")
    certification_banks: dict[str, list[str]] = Field(description="Tier -> the certification banks it must hold")
    total: ReadinessRow
    rows: list[ReadinessRow]
    bulletins: list[BulletinReadiness]


# --- search --------------------------------------------------------------------------------------


class SearchQuery(Query):
    q: Line300 = Field("", description="The query.")
    limit: int = Field(10, ge=1, le=50)
    offset: int = Field(0, ge=0, le=1000)
    kind: list[Line64] = Field(default_factory=list, max_length=8, description="Only this kind (repeatable).")
    tag: list[Line64] = Field(default_factory=list, max_length=8, description="Only SOPs with this tag.")
    id: list[Line64] = Field(default_factory=list, max_length=8, description="Only this SOP id (`ESC-*`: prefix).")
    refines: Line200 | None = Field(None, description="The previous response's search_token while still typing.")
    group: Literal["sop"] | None = Field(
        None,
        description="`sop`: one result per SOP in `groups`, each with its best sections; `limit` and `offset` "
        "then count SOPs, facets count SOPs, and `results` lists the groups' sections in order.",
    )


class SearchResult(Out):
    sop_id: str
    title: str
    kind: Literal["sop", "escalation", "bulletin"]
    status: str
    version: str
    section: str
    anchor: str
    url: str
    snippet: str = Field(description="HTML: escaped text with <mark> around the matched words")
    score: float
    tags: list[str]
    owner: str
    retired: bool
    language: str = Field(description="Language of the section found (ISO 639-1)")
    open_url: str = Field(description="The link to follow: records the click, then redirects to url")

    @classmethod
    def of(cls, hit: Any, open_url: str) -> SearchResult:
        return cls(
            sop_id=hit.sop_id,
            title=hit.title,
            kind=hit.kind,
            status=hit.status,
            version=hit.version,
            section=hit.section,
            anchor=hit.anchor,
            url=hit.url,
            snippet=hit.snippet,
            score=round(hit.score, 4),
            tags=list(hit.tags),
            owner=hit.owner,
            retired=hit.retired,
            language=hit.language,
            open_url=open_url,
        )


class SearchGroup(Out):
    """One SOP of a grouped search, with its best matching sections (deep links), best first"""

    sop_id: str
    title: str
    kind: Literal["sop", "escalation", "bulletin"]
    status: str
    version: str
    url: str = Field(description="The SOP's page in the caller's own site")
    score: float
    tags: list[str]
    owner: str
    retired: bool
    language: str = Field(description="Language of the sections found (ISO 639-1)")
    matched_sections: int = Field(description="Every section of this SOP the query matched")
    sections: list[SearchResult] = Field(
        description='The best sections, at most 5, the best first; only the first carries a snippet (the others: "")'
    )

    @classmethod
    def of(cls, group: Any, open_urls: list[str]) -> SearchGroup:
        return cls(
            sop_id=group.sop_id,
            title=group.title,
            kind=group.kind,
            status=group.status,
            version=group.version,
            url=group.url,
            score=round(group.score, 4),
            tags=list(group.tags),
            owner=group.owner,
            retired=group.retired,
            language=group.language,
            matched_sections=group.matched_sections,
            sections=[SearchResult.of(hit, url) for hit, url in zip(group.sections, open_urls)],
        )


class PinnedBulletin(Out):
    sop_id: str
    title: str
    version: str
    url: str
    expires: Timestamp | None
    matched: bool


class SearchResults(Out):
    """Results in the caller's own tier"""

    query: str
    tier: Tier
    total: int = Field(description="Matching sections")
    total_sops: int = Field(description="Matching SOPs")
    offset: int
    limit: int
    results: list[SearchResult]
    group: Literal["sop"] | None = Field(None, description="The grouping asked for (`group=sop`), else null")
    groups: list[SearchGroup] | None = Field(None, description="With `group=sop`: the page of SOPs, best first")
    facets: dict[str, dict[str, int]] = Field(
        description="Counts per kind and per tag: of matching sections, or with `group=sop` of matching SOPs"
    )
    suggestions: list[str]
    pinned: list[PinnedBulletin]
    filters: dict[str, list[str]]
    build_id: str
    language: str = Field(description="The reader's language when its translations were searched first (else en)")
    search_token: str | None

    @classmethod
    def of(
        cls, results: Any, open_urls: list[str], token: str, group_urls: list[list[str]] | None = None
    ) -> SearchResults:
        """`open_urls` for `results.hits`; with a grouping, `group_urls` for each group's sections."""
        return cls(
            query=results.query,
            tier=results.tier,
            total=results.total,
            total_sops=results.total_sops,
            offset=results.offset,
            limit=results.limit,
            results=[SearchResult.of(hit, url) for hit, url in zip(results.hits, open_urls)],
            group=results.group or None,
            groups=[SearchGroup.of(group, urls) for group, urls in zip(results.groups, group_urls or [])]
            if results.group
            else None,
            facets=results.facets,
            suggestions=list(results.suggestions),
            pinned=[
                PinnedBulletin(
                    sop_id=p.sop_id, title=p.title, version=p.version, url=p.url, expires=p.expires, matched=p.matched
                )
                for p in results.pinned
            ],
            filters=results.filters,
            build_id=results.build_id,
            language=results.language,
            search_token=token or None,
        )


# --- quizzes -----------------------------------------------------------------------------------


class BankRef(Out):
    id: str
    title: str
    kind: str
    tier: str


class QuizBank(Out):
    id: str
    title: str
    kind: str
    tier: str
    sops: list[str]
    version: str | None
    pass_mark: int
    questions_per_attempt: int | None
    time_limit_minutes: int | None
    attempts_per_day: int | None
    cooldown_hours: float | None
    valid_days: int | None
    questions: int = Field(description="How many questions the bank holds")
    # For agents: when they may take it.
    available: bool | None = None
    available_at: Timestamp | None = None
    unavailable_reason: Literal["cooldown", "attempt_limit", "remediation"] | None = None
    remediation_task_id: int | None = Field(None, description="the reading task whose sections unlock the retry")
    open_attempt_id: str | None = None
    passed_at: Timestamp | None = None

    @classmethod
    def of(cls, bank: Any, standing: Any = None) -> QuizBank:
        fields = {
            name: getattr(bank, name)
            for name in (
                "id",
                "title",
                "kind",
                "tier",
                "version",
                "pass_mark",
                "questions_per_attempt",
                "time_limit_minutes",
                "attempts_per_day",
                "cooldown_hours",
                "valid_days",
            )
        }
        out = cls(**fields, sops=list(bank.sops), questions=len(bank.questions))
        if standing is not None:
            availability = standing.availability
            out.available = availability.available
            out.available_at = availability.available_at
            out.unavailable_reason = availability.reason
            out.remediation_task_id = availability.remediation_task_id
            out.open_attempt_id = standing.open_attempt.public_id if standing.open_attempt else None
            out.passed_at = standing.passed_at
        return out


class QuizBankList(Out):
    """Banks: for an agent, those they may take; for staff, every bank"""

    banks: list[QuizBank]


class Choice(Out):
    id: str
    text: str


class TakerQuestion(BaseModel):
    """A question as the taker sees it: no key, feedback, explanation or source."""

    model_config = ConfigDict(extra="allow")  # question types add their own answer aids
    key: str = Field(examples=["q1"])
    number: int
    type: str = Field(description="single, multiple, true_false, ordering, short_answer, ...")
    points: int
    stem: str
    options: list[Choice] | None = None
    items: list[Choice] | None = None
    prompts: list[Choice] | None = Field(None, description="matching: the items to match (answer keys)")
    choices: list[Choice] | None = Field(None, description="matching: the answers to pick from (answer values)")
    unit: str | None = Field(None, description="numerical: the unit of the answer")
    max_length: int | None = None
    answer_shape: str | None = None


class QuizAttemptTaker(Out):
    """What the taker sees while the attempt is open"""

    attempt_id: str
    status: Literal["open"]
    started_at: Timestamp
    deadline: Timestamp
    seconds_left: int
    bank: BankRef
    time_limit_minutes: int
    pass_mark: int
    points_max: int
    questions: list[TakerQuestion]
    created: bool | None = Field(None, description="POST only: false when an open attempt was resumed")

    @classmethod
    def of(cls, view: dict[str, Any], *, created: bool | None = None) -> QuizAttemptTaker:
        return cls.model_validate({**view, "created": created})


class ReviewQuestion(BaseModel):
    """A finished question: right answers and explanations only when the bank shows them."""

    model_config = ConfigDict(extra="allow")
    key: str
    type: str
    stem: str
    source: str
    points_earned: float
    points_max: int
    correct: bool
    your_answer: Any = None


class QuizResult(Out):
    """The result and review of a finished attempt"""

    attempt_id: str
    status: Literal["submitted", "expired"]
    bank: BankRef
    started_at: Timestamp
    submitted_at: Timestamp | None
    score: float | None
    max_score: int | None
    percent: float | None
    pass_mark: int
    passed: bool
    shows_answers: bool
    questions: list[ReviewQuestion]

    @classmethod
    def of(cls, view: dict[str, Any]) -> QuizResult:
        return cls.model_validate(view)


AttemptView = QuizAttemptTaker | QuizResult


class AttemptPath(Request):
    attempt_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] = Field(
        description="The attempt id returned when it was started."
    )


class QuizStart(Request):
    bank_id: Id


AnswerText = Annotated[str, StringConstraints(max_length=200, pattern=SINGLE_LINE)]
ChoiceId = Annotated[str, StringConstraints(max_length=64, pattern=SINGLE_LINE)]
# single/short answer/numerical text, true/false, multiple/ordering ids, numerical number, matching prompt -> choice
Answer = (
    bool
    | AnswerText
    | Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
    | list[ChoiceId]
    | dict[ChoiceId, ChoiceId]
    | None
)
QuestionKey = Annotated[str, StringConstraints(max_length=16, pattern=r"^q\d{1,6}$")]


class QuizSubmit(Request):
    answers: dict[QuestionKey, Answer] = Field(
        max_length=200,
        description='Question keys to answers in the attempt\'s option ids: single "b"; multiple ["a", "c"]; '
        "true_false true; ordering every item id first to last; short_answer text (at most 200 characters); "
        'numerical a number (or its text); matching {"1": "b", ...} (prompt id to answer id).',
    )


class Certification(Out):
    bank_id: str
    title: str
    state: Literal["valid", "expiring", "recertification_due", "expired", "none"]
    certified: bool
    certified_at: Timestamp | None
    expires_at: Timestamp | None
    recertification_due_at: Timestamp | None
    recertification_overdue: bool
    changed_sops: list[str]

    @classmethod
    def of(cls, status: Any) -> Certification:
        return cls(
            bank_id=status.bank_id,
            title=status.title,
            state=status.state,
            certified=status.certified,
            certified_at=status.certified_at,
            expires_at=status.expires_at,
            recertification_due_at=status.due_at,
            recertification_overdue=status.overdue,
            changed_sops=list(status.changed),
        )


class PendingQuiz(Out):
    sop_id: str
    version: str
    bank_ids: list[str]
    due_at: Timestamp
    acknowledged_at: Timestamp | None


class MyCertifications(Out):
    """Certifications and the update quizzes acknowledgements wait for"""

    certifications: list[Certification]
    update_quizzes_required: list[PendingQuiz]


class OpenApiDocument(BaseModel):
    """The OpenAPI 3.1 document"""

    model_config = ConfigDict(extra="allow")
    openapi: str


# --- remediation -------------------------------------------------------------------------------


class RemediationSection(Out):
    section_id: int
    source: str = Field(description="The SOP section, e.g. ATO-RECOVERY#verify-ownership")
    questions_missed: int
    read_at: Timestamp | None


class RemediationTask(Out):
    """A reading task: the sections a failed quiz missed"""

    task_id: int
    bank_id: str
    bank_title: str
    assigned_at: Timestamp
    read_at: Timestamp | None
    sections: list[RemediationSection]

    @classmethod
    def of(cls, task: Any, titles: dict[str, str]) -> RemediationTask:
        return cls(
            task_id=task.id,
            bank_id=task.bank_id,
            bank_title=titles.get(task.bank_id, task.bank_id),
            assigned_at=task.created_at,
            read_at=task.read_at,
            sections=[
                RemediationSection(
                    section_id=s.id, source=s.source, questions_missed=s.questions_missed, read_at=s.read_at
                )
                for s in task.sections
            ],
        )


class RemediationTasks(Out):
    """The agent's reading tasks"""

    tasks: list[RemediationTask]


class RemediationPath(Request):
    task_id: int = Field(ge=1, le=MAX_INT)
    section_id: int = Field(ge=1, le=MAX_INT)


class InRemediationOut(Out):
    model_config = ConfigDict(title="InRemediation", extra="forbid")
    task_id: int
    employee_id: str
    name: str
    vendor: str
    site: str
    team: str
    bank_id: str
    kind: str
    since: Timestamp
    sections: int
    sections_read: int
    status: Literal["reading", "read, retry open"]

    @classmethod
    def of(cls, row: Any) -> InRemediationOut:
        return cls(
            task_id=row.task_id,
            employee_id=row.employee_id,
            name=row.name,
            vendor=row.vendor,
            site=row.site,
            team=row.team,
            bank_id=row.bank_id,
            kind=row.kind,
            since=row.since,
            sections=row.sections,
            sections_read=row.sections_read,
            status="read, retry open" if row.sections == row.sections_read else "reading",
        )


class WhoQuery(Query):
    vendor: Line64 | None = Field(None, description="A partner manager may only name their own vendor (403).")


class InRemediationList(Out):
    """Agents with an open reading task"""

    in_remediation: list[InRemediationOut]


# --- feedback from the page (issue 14) ------------------------------------------------------------

FlagKind = Literal["unclear", "outdated", "wrong", "missing_step"]
Anchor = Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9_.:-]*$")]
Comment = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class FeedbackRequest(Request):
    sop_id: Id
    anchor: Anchor = Field(description='The section anchor ("" for the text before the first heading)')
    kind: FlagKind
    comment: Comment = Field(description="Plain text, at most 500 characters (shown escaped)")
    version: Line16 | None = Field(None, description="The version on the page; default: the newest published")


class FeedbackFlag(Out):
    """The flag as stored"""

    id: int
    sop_id: str
    version: str
    anchor: str
    section_title: str
    kind: FlagKind
    comment: str
    status: Literal["open", "accepted", "answered", "dismissed"]
    answer: str
    created_at: Timestamp

    @classmethod
    def of(cls, flag: Any) -> FeedbackFlag:
        return cls.model_validate(
            {
                "id": flag.id,
                "sop_id": flag.sop_id,
                "version": flag.version,
                "anchor": flag.anchor,
                "section_title": flag.section_title,
                "kind": flag.kind,
                "comment": flag.comment,
                "status": flag.status,
                "answer": flag.answer,
                "created_at": flag.created_at,
            }
        )


class FeedbackForm(Out):
    """What a page needs to offer the flag control: the CSRF token of the session, the kinds"""

    csrf_token: str
    kinds: list[dict[str, str]]
    max_comment_chars: int
    mine_url: str
    anchors: list[str] = Field(description="With `sop_id`: the sections of its newest version the agent may flag")


class FeedbackFormQuery(Query):
    sop_id: Id | None = None
