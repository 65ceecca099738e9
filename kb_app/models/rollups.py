"""Coverage rollups: per requirement and roster cell (vendor, site, team, team leader, language,
tier) and due date, the counts that coverage reports add up, kept by database triggers.

One row holds what the assignments of that cell contribute: how many active agents
(`population`), how many acknowledged on time, late, or not yet (`unacked`: pending or overdue,
decided at read time by `due_at`), and how many acknowledged within each span of time since they
were assigned (`b00`..`b51`, for the median). Triggers on `assignments` and `agents` keep the rows
in the same transaction as every write (publishes, acknowledgements, quiz passes, roster imports:
joiners, leavers, moves), whatever code path or bulk statement makes it; PostgreSQL adds up each
statement's rows at once (statement triggers with transition tables), SQLite row by row.

A cell with no agent left keeps a row of zeros until the next publish or roster import prunes it.
The team leader is stored as '' when there is none, so the
key has no NULL (unique keys treat NULLs as distinct).

Migration 0010 creates the table and triggers from this module: changing the key, the buckets or
the triggers needs a new migration that drops and recreates them (`drop_trigger_ddl`,
`trigger_ddl`, `rebuild_sql`). SQLite drops a table's triggers with the table: a migration that rebuilds `assignments` or
`agents` (batch mode) must create them again (`trigger_ddl`); `tests/test_db.py` checks they exist.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from kb_app.models.base import Base, UTCDateTime

# Upper bounds, in seconds, of the time-to-acknowledge buckets (the last bucket is open-ended):
# quarter hours to 2 h, half hours to 4 h, hours to 8 h, 2 h to a day, 4 h to two days, half days
# to a week, then days to two weeks and wider to 30 days. A median is read to within half its
# bucket: 7.5 minutes in the first two hours, an hour in the first day.
BUCKET_BOUNDS = (
    900, 1800, 2700, 3600, 4500, 5400, 6300, 7200, 9000, 10800, 12600, 14400,
    18000, 21600, 25200, 28800, 36000, 43200, 50400, 57600, 64800, 72000, 79200, 86400,
    100800, 115200, 129600, 144000, 158400, 172800, 216000, 259200, 302400, 345600, 388800, 432000,
    475200, 518400, 561600, 604800, 691200, 777600, 864000, 950400, 1036800, 1123200, 1209600, 1468800,
    1814400, 2160000, 2592000,
)  # fmt: skip
BUCKETS = [f"b{index:02d}" for index in range(len(BUCKET_BOUNDS) + 1)]
KEY = ("requirement_id", "vendor", "site", "team", "manager", "language", "tier", "due_at")
COUNTS = ("population", "on_time", "late", "unacked", *BUCKETS)
TRIGGER_NAMES = (
    "kb_rollup_assignments_insert",
    "kb_rollup_assignments_update",
    "kb_rollup_assignments_delete",
    "kb_rollup_agents_update",
)


coverage_rollups = Table(
    "coverage_rollups",
    Base.metadata,
    Column("requirement_id", Integer, primary_key=True, autoincrement=False),
    Column("vendor", String(64), primary_key=True),
    Column("site", String(64), primary_key=True),
    Column("team", String(100), primary_key=True),
    Column("manager", String(200), primary_key=True),  # '' for no team leader
    Column("language", String(8), primary_key=True),
    Column("tier", String(2), primary_key=True),
    Column("due_at", UTCDateTime(), primary_key=True),
    *(Column(name, Integer, nullable=False, default=0) for name in COUNTS),
)


class CoverageRollup(Base):
    __table__ = coverage_rollups


def bucket_conditions(seconds: str) -> list[str]:
    """SQL conditions, one per bucket, true when `seconds` falls in it (false when NULL)."""
    lows = (0, *BUCKET_BOUNDS)
    highs = (*BUCKET_BOUNDS, None)
    return [
        f"{seconds} >= {low}" + (f" AND {seconds} < {high}" if high is not None else "")
        for low, high in zip(lows, highs, strict=True)
    ]


def contribution_select(*, rows: str, cell: str, from_: str, where: str, sign: int, grouped: bool) -> str:
    """SELECT of the rollup key and the counts that assignment rows contribute, times `sign`.

    `rows` names the assignment row (an alias, or a trigger's NEW/OLD) and `cell` the agent row whose
    roster cell and `active` flag apply; `from_` and `where` join them. `grouped` sums the counts
    per key (set-based triggers, the rebuild); otherwise the SELECT gives one row's counts.
    """

    def count(condition: str) -> str:
        one = f"CASE WHEN {condition} THEN {sign} ELSE 0 END"
        return f"SUM({one})" if grouped else one

    key = [
        f"{rows}.requirement_id",
        f"{cell}.vendor",
        f"{cell}.site",
        f"{cell}.team",
        f"COALESCE({cell}.manager, '')",
        f"{cell}.language",
        f"{cell}.tier",
        f"{rows}.due_at",
    ]
    acked = f"{rows}.acknowledged_at IS NOT NULL"
    counts = [
        count("1 = 1"),
        count(f"{acked} AND {rows}.acknowledged_at <= {rows}.due_at"),
        count(f"{acked} AND {rows}.acknowledged_at > {rows}.due_at"),
        count(f"{rows}.acknowledged_at IS NULL"),
        *(count(condition) for condition in bucket_conditions(f"{rows}.seconds_to_ack")),
    ]
    sql = f"SELECT {', '.join(key + counts)} FROM {from_} WHERE {cell}.active = TRUE AND ({where})"
    if grouped:
        sql += f" GROUP BY {', '.join(key)} ORDER BY {', '.join(key)}"
    return sql


def grouped_contributions(rows_source: str = "assignments", cells_source: str = "agents", sign: int = 1) -> str:
    """Counts per rollup key of the assignment rows `rows_source`, in the roster cells of
    `cells_source` (a table, or a subquery of agent rows); everything, by default."""
    return contribution_select(
        rows="r",
        cell="c",
        from_=f"{rows_source} r JOIN {cells_source} c ON c.id = r.agent_id",
        where="1 = 1",
        sign=sign,
        grouped=True,
    )


def _upsert(select: str) -> str:
    columns = ", ".join((*KEY, *COUNTS))
    updates = ", ".join(f"{c} = coverage_rollups.{c} + excluded.{c}" for c in COUNTS)
    return f"INSERT INTO coverage_rollups ({columns}) {select} ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"


# Cells left with no agent (moves, leavers) are not deleted by the triggers, which would have to
# search for them on every write: they add nothing to any sum, and `prune_sql` clears them after a
# publish or a roster import.
PRUNE_SQL = "DELETE FROM coverage_rollups WHERE population = 0"
_AGENT_DIMENSIONS = ("vendor", "site", "team", "manager", "language", "tier", "active")
_ASSIGNMENT_COLUMNS = ("requirement_id", "agent_id", "due_at", "acknowledged_at", "seconds_to_ack")


def _sqlite_ddl() -> list[str]:
    def changed(columns) -> str:
        return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)

    def one_assignment(row: str, sign: int) -> str:
        return _upsert(
            contribution_select(
                rows=row, cell="c", from_="agents c", where=f"c.id = {row}.agent_id", sign=sign, grouped=False
            )
        )

    def agents_assignments(row: str, sign: int) -> str:
        return _upsert(
            contribution_select(
                rows="r", cell=row, from_="assignments r", where=f"r.agent_id = {row}.id", sign=sign, grouped=True
            )
        )

    return [
        f"""CREATE TRIGGER kb_rollup_assignments_insert AFTER INSERT ON assignments BEGIN
            {one_assignment("NEW", 1)};
        END""",
        f"""CREATE TRIGGER kb_rollup_assignments_update AFTER UPDATE ON assignments
        WHEN {changed(_ASSIGNMENT_COLUMNS)} BEGIN
            {one_assignment("OLD", -1)};
            {one_assignment("NEW", 1)};
        END""",
        f"""CREATE TRIGGER kb_rollup_assignments_delete AFTER DELETE ON assignments BEGIN
            {one_assignment("OLD", -1)};
        END""",
        # An agent's move (or leaving, or coming back) moves all their assignments' counts.
        f"""CREATE TRIGGER kb_rollup_agents_update AFTER UPDATE ON agents
        WHEN {changed(_AGENT_DIMENSIONS)} BEGIN
            {agents_assignments("OLD", -1)};
            {agents_assignments("NEW", 1)};
        END""",
    ]


def _postgresql_ddl() -> list[str]:
    def changed(columns) -> str:
        return " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in columns)

    def assignments(source: str, sign: int) -> str:
        return _upsert(grouped_contributions(rows_source=source, sign=sign))

    def changed_rows(side: str, columns) -> str:
        """The OLD (`o`) or NEW (`n`) side of the statement's rows whose `columns` changed."""
        return f"(SELECT {side}.* FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed(columns)})"

    def agents(side: str, sign: int) -> str:
        return _upsert(grouped_contributions(cells_source=changed_rows(side, _AGENT_DIMENSIONS), sign=sign))

    return [
        f"""CREATE FUNCTION kb_rollup_assignments() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {assignments("new_rows", 1)};
            ELSIF TG_OP = 'UPDATE' THEN
                {assignments(changed_rows("o", _ASSIGNMENT_COLUMNS), -1)};
                {assignments(changed_rows("n", _ASSIGNMENT_COLUMNS), 1)};
            ELSE
                {assignments("old_rows", -1)};
            END IF;
            RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION kb_rollup_agents() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {agents("o", -1)};
            {agents("n", 1)};
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER kb_rollup_assignments_insert AFTER INSERT ON assignments
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kb_rollup_assignments()""",
        """CREATE TRIGGER kb_rollup_assignments_update AFTER UPDATE ON assignments
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION kb_rollup_assignments()""",
        """CREATE TRIGGER kb_rollup_assignments_delete AFTER DELETE ON assignments
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kb_rollup_assignments()""",
        """CREATE TRIGGER kb_rollup_agents_update AFTER UPDATE ON agents
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION kb_rollup_agents()""",
    ]


def trigger_ddl(dialect: str) -> list[str]:
    """The statements that create the rollup triggers on `dialect` ('sqlite' or 'postgresql')."""
    if dialect == "postgresql":
        return _postgresql_ddl()
    if dialect == "sqlite":
        return _sqlite_ddl()
    raise ValueError(f"coverage rollups have no triggers for {dialect!r}")


def drop_trigger_ddl(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS kb_rollup_assignments_insert ON assignments",
            "DROP TRIGGER IF EXISTS kb_rollup_assignments_update ON assignments",
            "DROP TRIGGER IF EXISTS kb_rollup_assignments_delete ON assignments",
            "DROP TRIGGER IF EXISTS kb_rollup_agents_update ON agents",
            "DROP FUNCTION IF EXISTS kb_rollup_assignments()",
            "DROP FUNCTION IF EXISTS kb_rollup_agents()",
        ]
    return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES]


def rebuild_sql() -> list[str]:
    """Recompute every rollup row from the assignments and the roster (migration, repair)."""
    return ["DELETE FROM coverage_rollups", _upsert(grouped_contributions())]
