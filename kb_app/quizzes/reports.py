"""Quiz reports for the training team and partner managers: certification coverage, pass
rates, and item analysis (which questions, and so which SOP sections, are not landing).

Aggregation runs in SQL (counts, sums, sums of squares and cross products per question); the
statistics are computed in Python from those aggregates, never by looping over answers.

Item analysis follows Moodle's quiz statistics, over the submitted attempts that drew the item
(banks draw a subset of their questions per attempt). With x the item's score as a fraction of
its points, and R the attempt's score minus the item's points (the rest of the test):

- facility index F = mean(x);
- discrimination index D = corr(x, R), Pearson's correlation of the item with the rest of the test;
- discriminative efficiency E = cov(x, R) / cov_max(x, R), where cov_max pairs the sorted x with
  the sorted R (the largest covariance those two score distributions allow);
- Cronbach's alpha for the bank: k / (k - 1) * (1 - sum of item variances / variance of totals),
  with k the questions per attempt; for a drawn subset each item's variance is weighted by the
  share of attempts that drew it (the expected sum of item variances of one attempt).

Flags: too easy (F > 0.9), too hard (F < 0.3), discriminating badly (D < 0.2, or negative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from kb_app.models import Agent, PublishedVersion
from kb_app.models.quizzes import Certification, CertificationSop, QuizAnswer, QuizAnswerChoice, QuizAttempt
from kb_app.versions import latest_versions
from kb_app.quizzes.grading import matched_numeric_answer, parse_number
from kb_app.quizzes.schema import Bank, Matching, MultipleResponse, Numerical, Ordering, SingleChoice, TrueFalse

TOO_EASY = 0.9
TOO_HARD = 0.3
LOW_DISCRIMINATION = 0.2
FEW_ANSWERS = 30  # below this, item statistics are indicative only
EXPIRING_DAYS = 30

DIMENSIONS = {
    "vendor": Agent.vendor,
    "site": Agent.site,
    "team": Agent.team,
    "team_leader": Agent.manager,
    "language": Agent.language,
    "tier": Agent.tier,
}
ANALYSIS_GROUPS = ("vendor", "language")


class QuizReportError(ValueError):
    pass


@dataclass(frozen=True)
class ReportFilter:
    vendor: str | None = None  # a partner manager's scope is always set here
    site: str | None = None
    team: str | None = None
    language: str | None = None

    def apply(self, query):
        for value, column in (
            (self.vendor, Agent.vendor),
            (self.site, Agent.site),
            (self.team, Agent.team),
            (self.language, Agent.language),
        ):
            if value is not None:
                query = query.where(column == value)
        return query


def _dimension_columns(by: list[str]):
    columns = []
    for name in by:
        if name not in DIMENSIONS:
            raise QuizReportError(f"cannot group by {name!r}; choose from {', '.join(DIMENSIONS)}")
        columns.append(DIMENSIONS[name].label(name))
    return columns


def section_url(path: str | None, anchor: str) -> str | None:
    """The built site's URL of a section: /sop/<page>/#<anchor> (same scheme as the SOP pages)."""
    if not path:
        return None
    page = path[:-3] if path.endswith(".md") else path
    page = page[: -len("index")] if page.endswith("index") else page + "/"
    return f"/sop/{page}#{anchor}"


# --- item analysis ------------------------------------------------------------------------------


@dataclass
class OptionCount:
    choice: str  # bank option id, true/false, an ordering (item indexes), or a short answer
    label: str  # what the option says, as far as the current bank knows it
    count: int
    correct: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {"choice": self.choice, "label": self.label, "count": self.count, "correct": self.correct}


@dataclass
class PairStats:
    """One pair of a matching question: how often its prompt was matched right, and the most
    common wrong match (what agents confuse it with)."""

    prompt: str
    answer: str
    n: int
    right: int
    common_wrong: str | None
    common_wrong_count: int

    @property
    def facility(self) -> float:
        return self.right / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "answer": self.answer,
            "n": self.n,
            "right": self.right,
            "facility": _round(self.facility),
            "common_wrong": self.common_wrong,
            "common_wrong_count": self.common_wrong_count,
        }


# The columns of an item-analysis export, one row per question (web CSV and `kb quiz analysis --csv`).
ITEM_ANALYSIS_COLUMNS = [
    "question_id",
    "source",
    "url",
    "type",
    "n",
    "facility",
    "sd",
    "discrimination",
    "efficiency",
    "flags",
    "stem",
]


@dataclass
class ItemStats:
    question_id: str
    source: str
    type: str
    stem: str | None  # None when the question is no longer in the bank
    n: int
    answered: int
    facility: float
    sd: float | None
    discrimination: float | None
    efficiency: float | None
    url: str | None = None
    options: list[OptionCount] = field(default_factory=list)
    pairs: list[PairStats] = field(default_factory=list)  # matching questions: per pair

    @property
    def flags(self) -> list[str]:
        flags = []
        if self.facility > TOO_EASY:
            flags.append("too_easy")
        if self.facility < TOO_HARD:
            flags.append("too_hard")
        if self.discrimination is not None and self.discrimination < 0:
            flags.append("negative_discrimination")
        elif self.discrimination is not None and self.discrimination < LOW_DISCRIMINATION:
            flags.append("low_discrimination")
        return flags

    @property
    def few_answers(self) -> bool:
        return self.n < FEW_ANSWERS

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "source": self.source,
            "url": self.url,
            "type": self.type,
            "stem": self.stem,
            "n": self.n,
            "answered": self.answered,
            "facility": _round(self.facility),
            "sd": _round(self.sd),
            "discrimination": _round(self.discrimination),
            "efficiency": _round(self.efficiency),
            "flags": self.flags,
            "options": [o.to_dict() for o in self.options],
            "pairs": [p.to_dict() for p in self.pairs],
        }


@dataclass
class BankAnalysis:
    bank_id: str
    group: dict[str, str]  # {} overall, else e.g. {"vendor": "apex-cx"}
    attempts: int
    agents: int
    mean_percent: float | None
    sd_percent: float | None
    alpha: float | None
    questions_per_attempt: float | None
    items: list[ItemStats]

    @property
    def flagged(self) -> list[ItemStats]:
        return [item for item in self.items if item.flags]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bank_id": self.bank_id,
            "group": self.group,
            "attempts": self.attempts,
            "agents": self.agents,
            "mean_percent": _round(self.mean_percent, 1),
            "sd_percent": _round(self.sd_percent, 1),
            "alpha": _round(self.alpha),
            "questions_per_attempt": _round(self.questions_per_attempt, 2),
            "items": [item.to_dict() for item in self.items],
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _finished(bank_id: str, flt: ReportFilter):
    return lambda query: flt.apply(query.where(QuizAttempt.bank_id == bank_id, QuizAttempt.status == "submitted"))


def item_analysis(
    session: Session, bank: Bank, *, flt: ReportFilter = ReportFilter(), by: str | None = None
) -> list[BankAnalysis]:
    """The bank's item analysis: one `BankAnalysis` overall, or one per vendor or language."""
    if by is not None and by not in ANALYSIS_GROUPS:
        raise QuizReportError(f"item analysis groups by {' or '.join(ANALYSIS_GROUPS)}, not {by!r}")
    group_cols = _dimension_columns([by] if by else [])
    names = [c.name for c in group_cols]
    scoped = _finished(bank.id, flt)

    x = QuizAnswer.fraction
    p = QuizAnswer.points_earned
    rest = QuizAttempt.score - QuizAnswer.points_earned

    def answers(*columns):
        return scoped(
            select(*columns)
            .select_from(QuizAnswer)
            .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
            .join(Agent, Agent.id == QuizAttempt.agent_id)
        )

    items_query = answers(
        *group_cols,
        QuizAnswer.question_id,
        func.min(QuizAnswer.source).label("source"),
        func.min(QuizAnswer.question_type).label("type"),
        func.count().label("n"),
        func.sum(case((QuizAnswer.answered, 1), else_=0)).label("answered"),
        func.sum(x).label("sx"),
        func.sum(x * x).label("sxx"),
        func.sum(p).label("sp"),
        func.sum(p * p).label("spp"),
        func.sum(rest).label("sr"),
        func.sum(rest * rest).label("srr"),
        func.sum(x * rest).label("sxr"),
    ).group_by(*group_cols, QuizAnswer.question_id)
    totals_query = scoped(
        select(
            *group_cols,
            func.count().label("attempts"),
            func.count(func.distinct(QuizAttempt.agent_id)).label("agents"),
            func.sum(QuizAttempt.score).label("st"),
            func.sum(QuizAttempt.score * QuizAttempt.score).label("stt"),
            func.sum(QuizAttempt.percent).label("spct"),
            func.sum(QuizAttempt.percent * QuizAttempt.percent).label("spctt"),
        )
        .select_from(QuizAttempt)
        .join(Agent, Agent.id == QuizAttempt.agent_id)
    ).group_by(*group_cols)
    answered_per_attempt = answers(*group_cols, func.count().label("answers")).group_by(*group_cols)
    choices_query = scoped(
        select(*group_cols, QuizAnswer.question_id, QuizAnswerChoice.choice, func.count().label("count"))
        .select_from(QuizAnswerChoice)
        .join(QuizAnswer, QuizAnswer.id == QuizAnswerChoice.answer_id)
        .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
        .join(Agent, Agent.id == QuizAttempt.agent_id)
    ).group_by(*group_cols, QuizAnswer.question_id, QuizAnswerChoice.choice)

    def key(row) -> tuple:
        return tuple(row[n] for n in names)

    products = _sorted_cross_products(session, answers, group_cols, x, rest)
    answer_counts = {key(r): r["answers"] for r in session.execute(answered_per_attempt).mappings()}
    choice_counts: dict[tuple, dict[str, int]] = {}
    for row in session.execute(choices_query).mappings():
        choice_counts.setdefault((*key(row), row["question_id"]), {})[row["choice"]] = row["count"]
    item_rows: dict[tuple, list] = {}
    for row in session.execute(items_query).mappings():
        item_rows.setdefault(key(row), []).append(row)
    paths = {sop_id: v.path for sop_id, v in latest_versions(session).items()}
    order = {q.id: i for i, q in enumerate(bank.questions)}

    analyses = []
    for total in session.execute(totals_query.order_by(*group_cols)).mappings():
        group_key = key(total)
        attempts_n = total["attempts"]
        items = [
            _item_stats(
                bank,
                row,
                products.get((*group_key, row["question_id"]), 0.0),
                choice_counts.get((*group_key, row["question_id"]), {}),
                paths,
            )
            for row in item_rows.get(group_key, [])
        ]
        items.sort(key=lambda item: (order.get(item.question_id, len(order)), item.question_id))
        k = answer_counts.get(group_key, 0) / attempts_n if attempts_n else None
        analyses.append(
            BankAnalysis(
                bank_id=bank.id,
                group=dict(zip(names, group_key)),
                attempts=attempts_n,
                agents=total["agents"],
                mean_percent=float(total["spct"]) / attempts_n if attempts_n else None,
                sd_percent=_sd(attempts_n, total["spct"], total["spctt"]),
                alpha=_alpha(k, attempts_n, total["st"], total["stt"], item_rows.get(group_key, [])),
                questions_per_attempt=k,
                items=items,
            )
        )
    if not analyses and by is None:
        analyses.append(BankAnalysis(bank.id, {}, 0, 0, None, None, None, None, []))
    return analyses


def _sorted_cross_products(session: Session, answers, group_cols, x, rest) -> dict[tuple, float]:
    """Per item, the sum of x_(k) * R_(k) with x and R each sorted ascending (for cov_max).

    Item scores take few distinct values (0 and 1, or a few partial credits): v_0 < v_1 < ...
    over the whole bank. Sorted, an item's scores are a step function of the rank k:
    x_(k) = v_0 + sum_j (v_j - v_(j-1)) * [k > #(x < v_j)]. So one window pass over the answers
    sorted by R (row_number for k, per-item counts of x < v_j) and one SUM give the result:
    no self-join, whatever the number of answers.
    """
    values = sorted(float(v) for v in session.scalars(answers(x).distinct()))
    if not values:
        return {}
    names = [c.name for c in group_cols]
    partition = [*group_cols, QuizAnswer.question_id]
    below = [
        func.sum(case((x < value, 1), else_=0)).over(partition_by=partition).label(f"below_{j}")
        for j, value in enumerate(values[1:], start=1)
    ]
    ranked = answers(
        *group_cols,
        QuizAnswer.question_id,
        cast(rest, Float).label("r"),
        func.row_number().over(partition_by=partition, order_by=rest).label("k"),
        *below,
    ).subquery("ranked")
    step = literal(values[0])
    for j in range(1, len(values)):
        step = step + literal(values[j] - values[j - 1]) * case((ranked.c.k > ranked.c[f"below_{j}"], 1), else_=0)
    columns = [*[ranked.c[n] for n in names], ranked.c.question_id]
    query = select(*columns, func.sum(ranked.c.r * step).label("smax")).group_by(*columns)
    return {
        (*[row[n] for n in names], row["question_id"]): float(row["smax"] or 0)
        for row in session.execute(query).mappings()
    }


def _variance(n: int, s: float, ss: float) -> float | None:
    """Sample variance from n, the sum and the sum of squares."""
    if n < 2:
        return None
    value = (n * float(ss) - float(s) ** 2) / (n * (n - 1))
    return max(value, 0.0)


def _sd(n: int, s, ss) -> float | None:
    variance = _variance(n, s or 0, ss or 0)
    return math.sqrt(variance) if variance is not None else None


def _item_stats(bank: Bank, row, smax: float, choices: dict[str, int], paths: dict[str, str]) -> ItemStats:
    n = row["n"]
    sx, sxx, sr, srr, sxr = (float(row[k] or 0) for k in ("sx", "sxx", "sr", "srr", "sxr"))
    covariance = n * sxr - sx * sr  # n^2 times the covariance
    var_x = n * sxx - sx * sx
    var_r = n * srr - sr * sr
    discrimination = None
    if n >= 2 and var_x > 1e-9 and var_r > 1e-9:
        discrimination = max(-1.0, min(1.0, covariance / math.sqrt(var_x * var_r)))
    efficiency = None
    max_covariance = n * smax - sx * sr
    if n >= 2 and max_covariance > 1e-9:
        # Not clamped: a negative covariance can exceed cov_max in size for skewed scores.
        efficiency = min(1.0, covariance / max_covariance)
    try:
        question = bank.question(row["question_id"])
    except KeyError:
        question = None
    sop_id, _, anchor = row["source"].partition("#")
    return ItemStats(
        question_id=row["question_id"],
        source=row["source"],
        type=row["type"],
        stem=question.stem if question is not None else None,
        n=n,
        answered=int(row["answered"] or 0),
        facility=sx / n if n else 0.0,
        sd=_sd(n, sx, sxx),
        discrimination=discrimination,
        efficiency=efficiency,
        url=section_url(paths.get(sop_id), anchor),
        options=_option_counts(question, choices) if not isinstance(question, Matching) else [],
        pairs=pair_stats(question, n, choices) if isinstance(question, Matching) else [],
    )


def pair_stats(question: Matching, n: int, choices: dict[str, int]) -> list[PairStats]:
    """Per pair from the stored `<pair>=<choice>` values (see `attempts.matching_choice_values`)."""
    options = question.choices
    result = []
    for index, pair in enumerate(question.pairs):
        right_choice = question.choice_index(pair.answer)
        right, wrong = 0, {}
        for value, count in choices.items():
            pair_part, _, choice_part = value.partition("=")
            if pair_part != str(index) or not choice_part.isdigit():
                continue
            if int(choice_part) == right_choice:
                right += count
            elif int(choice_part) < len(options):
                wrong[options[int(choice_part)]] = wrong.get(options[int(choice_part)], 0) + count
        common = max(wrong.items(), key=lambda item: (item[1], item[0]), default=(None, 0))
        result.append(PairStats(pair.prompt, pair.answer, n, right, common[0], common[1]))
    return result


def _option_counts(question, choices: dict[str, int]) -> list[OptionCount]:
    counts: list[OptionCount] = []
    if isinstance(question, (SingleChoice, MultipleResponse)):
        for option in question.options:
            counts.append(OptionCount(option.id, option.text, choices.pop(option.id, 0), option.is_correct))
    elif isinstance(question, TrueFalse):
        for value in ("true", "false"):
            counts.append(
                OptionCount(value, value.capitalize(), choices.pop(value, 0), (value == "true") == question.answer)
            )
    elif isinstance(question, Ordering):
        right = "-".join(str(i) for i in range(len(question.items)))
        for choice, count in sorted(choices.items(), key=lambda item: -item[1])[:5]:
            label = " → ".join(_item_text(question, part) for part in choice.split("-"))
            counts.append(OptionCount(choice, label, count, choice == right))
        return counts
    for choice, count in sorted(choices.items(), key=lambda item: -item[1])[:10]:
        counts.append(OptionCount(choice, choice, count, _numeric_right(question, choice)))
    return counts


def _numeric_right(question, choice: str) -> bool | None:
    """For numerical questions: is the typed number a full-credit answer? None for other types."""
    if not isinstance(question, Numerical):
        return None
    try:
        matched = matched_numeric_answer(question, parse_number(choice))
    except ValueError:
        return None
    return matched is not None and matched.credit == 100


def _item_text(question: Ordering, index: str) -> str:
    try:
        return question.items[int(index)]
    except (ValueError, IndexError):
        return index


def _alpha(k: float | None, attempts_n: int, st, stt, items) -> float | None:
    """Cronbach's alpha; item variances weighted by how often each item was drawn."""
    if k is None or k <= 1 or attempts_n < 2:
        return None
    total_variance = _variance(attempts_n, st or 0, stt or 0)
    if not total_variance:
        return None
    expected_item_variance = 0.0
    for row in items:
        variance = _variance(row["n"], row["sp"] or 0, row["spp"] or 0)
        if variance is not None:
            expected_item_variance += row["n"] / attempts_n * variance
    return k / (k - 1) * (1 - expected_item_variance / total_variance)


# --- pass rates -------------------------------------------------------------------------------------


@dataclass
class PassRateRow:
    group: dict[str, Any]
    attempts: int
    agents: int
    passed: int
    agents_passed: int
    first_attempts: int
    first_attempt_passes: int
    expired: int
    mean_percent: float | None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.attempts if self.attempts else None

    @property
    def first_attempt_pass_rate(self) -> float | None:
        return self.first_attempt_passes / self.first_attempts if self.first_attempts else None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.group,
            "attempts": self.attempts,
            "agents": self.agents,
            "passed": self.passed,
            "agents_passed": self.agents_passed,
            "pass_rate": _round(self.pass_rate),
            "first_attempt_pass_rate": _round(self.first_attempt_pass_rate),
            "expired": self.expired,
            "mean_percent": _round(self.mean_percent, 1),
        }


def pass_rates(
    session: Session, *, by: list[str], flt: ReportFilter = ReportFilter(), bank_id: str | None = None
) -> list[PassRateRow]:
    """Finished attempts (submitted or expired) per bank and group: pass rate, first-attempt pass rate."""
    group_cols = [QuizAttempt.bank_id.label("bank_id"), *_dimension_columns([b for b in by if b != "bank"])]
    names = [c.name for c in group_cols]
    ranked = flt.apply(
        select(
            *group_cols,
            QuizAttempt.agent_id,
            QuizAttempt.status,
            QuizAttempt.passed,
            QuizAttempt.percent,
            func.row_number()
            .over(partition_by=[QuizAttempt.agent_id, QuizAttempt.bank_id], order_by=QuizAttempt.started_at)
            .label("nth"),
        )
        .select_from(QuizAttempt)
        .join(Agent, Agent.id == QuizAttempt.agent_id)
        .where(QuizAttempt.status != "open", *([QuizAttempt.bank_id == bank_id] if bank_id else []))
    ).subquery()
    passed = ranked.c.passed.is_(True)
    query = (
        select(
            *[ranked.c[n] for n in names],
            func.count().label("attempts"),
            func.count(func.distinct(ranked.c.agent_id)).label("agents"),
            func.sum(case((passed, 1), else_=0)).label("passed"),
            func.count(func.distinct(case((passed, ranked.c.agent_id)))).label("agents_passed"),
            func.sum(case((ranked.c.nth == 1, 1), else_=0)).label("first_attempts"),
            func.sum(case((and_(ranked.c.nth == 1, passed), 1), else_=0)).label("first_attempt_passes"),
            func.sum(case((ranked.c.status == "expired", 1), else_=0)).label("expired"),
            func.avg(ranked.c.percent).label("mean_percent"),
        )
        .group_by(*[ranked.c[n] for n in names])
        .order_by(*[ranked.c[n] for n in names])
    )
    return [
        PassRateRow(
            group={n: row[n] for n in names},
            attempts=row["attempts"],
            agents=row["agents"],
            passed=int(row["passed"] or 0),
            agents_passed=row["agents_passed"],
            first_attempts=int(row["first_attempts"] or 0),
            first_attempt_passes=int(row["first_attempt_passes"] or 0),
            expired=int(row["expired"] or 0),
            mean_percent=float(row["mean_percent"]) if row["mean_percent"] is not None else None,
        )
        for row in session.execute(query).mappings()
    ]


# --- certification coverage -----------------------------------------------------------------------


@dataclass
class CertificationCoverageRow:
    group: dict[str, Any]
    population: int
    valid: int  # certified, not expiring soon
    expiring: int  # certified, expires within EXPIRING_DAYS
    recertification_due: int
    recertification_overdue: int  # part of recertification_due
    expired: int
    never: int

    @property
    def certified(self) -> int:
        return self.valid + self.expiring

    @property
    def percent_certified(self) -> float:
        return round(100.0 * self.certified / self.population, 1) if self.population else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.group,
            "population": self.population,
            "certified": self.certified,
            "certified_pct": self.percent_certified,
            "valid": self.valid,
            "expiring": self.expiring,
            "recertification_due": self.recertification_due,
            "recertification_overdue": self.recertification_overdue,
            "expired": self.expired,
            "never": self.never,
        }


def certification_coverage(
    session: Session, bank: Bank, *, by: list[str], now: datetime, due_days: int, flt: ReportFilter = ReportFilter()
) -> list[CertificationCoverageRow]:
    """Active agents of the bank's tier by certification state, grouped by roster dimensions."""
    group_cols = _dimension_columns(by)
    latest = (
        select(Certification.agent_id, func.max(Certification.id).label("id"))
        .where(Certification.bank_id == bank.id, Certification.certified_at <= now)
        .group_by(Certification.agent_id)
        .subquery()
    )
    # When a newer major of one of its SOPs was published after the pass: once per certification
    # in one grouped join (a correlated subquery here ran once per agent and per state counted).
    changed = (
        select(
            CertificationSop.certification_id.label("certification_id"),
            func.min(PublishedVersion.published_at).label("changed_at"),
        )
        .join(latest, latest.c.id == CertificationSop.certification_id)
        .join(Certification, Certification.id == CertificationSop.certification_id)
        .join(
            PublishedVersion,
            and_(
                PublishedVersion.sop_id == CertificationSop.sop_id,
                PublishedVersion.major > CertificationSop.major_at_pass,
                PublishedVersion.published_at > Certification.certified_at,
                PublishedVersion.published_at <= now,
            ),
        )
        .where(CertificationSop.major_at_pass.is_not(None))
        .group_by(CertificationSop.certification_id)
        .subquery()
    )
    changed_at = changed.c.changed_at
    state = case(
        (Certification.id.is_(None), literal("never")),
        (Certification.expires_at <= now, literal("expired")),
        (
            changed_at.is_not(None),
            case((changed_at <= now - timedelta(days=due_days), literal("overdue")), else_=literal("due")),
        ),
        (Certification.expires_at <= now + timedelta(days=EXPIRING_DAYS), literal("expiring")),
        else_=literal("valid"),
    )
    per_agent = flt.apply(
        select(*group_cols, state.label("state"))
        .select_from(Agent)
        .outerjoin(latest, latest.c.agent_id == Agent.id)
        .outerjoin(Certification, Certification.id == latest.c.id)
        .outerjoin(changed, changed.c.certification_id == Certification.id)
        .where(Agent.active.is_(True), Agent.tier == bank.tier)
    ).subquery()
    names = [c.name for c in group_cols]
    columns = [per_agent.c[n] for n in names]

    def count(*states):
        return func.sum(case((per_agent.c.state.in_(states), 1), else_=0))

    query = select(
        *columns,
        func.count().label("population"),
        count("valid").label("valid"),
        count("expiring").label("expiring"),
        count("due", "overdue").label("due"),
        count("overdue").label("overdue"),
        count("expired").label("expired"),
        count("never").label("never"),
    )
    if columns:
        query = query.group_by(*columns).order_by(*columns)
    rows = []
    for row in session.execute(query).mappings():
        if not row["population"]:
            continue
        rows.append(
            CertificationCoverageRow(
                group={n: row[n] for n in names},
                population=row["population"],
                valid=int(row["valid"] or 0),
                expiring=int(row["expiring"] or 0),
                recertification_due=int(row["due"] or 0),
                recertification_overdue=int(row["overdue"] or 0),
                expired=int(row["expired"] or 0),
                never=int(row["never"] or 0),
            )
        )
    return rows
