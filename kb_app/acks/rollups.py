"""Checking and repairing the coverage rollups against the rows they summarise.

The triggers (`kb_app.models.rollups`) keep the rollups in step with every write; `verify`
recomputes every cell from the assignments and the roster and lists each cell where the stored
counts differ, and `repair` recomputes them all in one transaction. `kb report coverage --verify`
runs the first, `--repair` the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from kb_app.models.rollups import COUNTS, KEY, PRUNE_SQL, grouped_contributions, rebuild_sql


@dataclass(frozen=True)
class RollupDifference:
    """One rollup cell whose stored counts differ from the counts of its rows."""

    key: dict[str, object]
    stored: dict[str, int]
    expected: dict[str, int]

    @property
    def columns(self) -> list[str]:
        return [c for c in COUNTS if self.stored.get(c, 0) != self.expected.get(c, 0)]

    def to_dict(self) -> dict:
        key = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.key.items()}
        return {
            "cell": key,
            "differences": {
                c: {"stored": self.stored.get(c, 0), "from_rows": self.expected.get(c, 0)} for c in self.columns
            },
        }

    def __str__(self) -> str:
        cell = ", ".join(f"{k}={v}" for k, v in self.to_dict()["cell"].items())
        changes = "; ".join(f"{c} {self.stored.get(c, 0)} (rows say {self.expected.get(c, 0)})" for c in self.columns)
        return f"{cell}: {changes}"


def _normalise(value: object) -> object:
    """Keys compare equal whatever the driver returns for a timestamp (string or datetime)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value


def _cells(session: Session, sql: str) -> dict[tuple, tuple[dict[str, object], dict[str, int]]]:
    cells = {}
    for row in session.execute(text(sql)):
        key = dict(zip(KEY, row[: len(KEY)], strict=True))
        counts = dict(zip(COUNTS, (int(v or 0) for v in row[len(KEY) :]), strict=True))
        if any(counts.values()):
            cells[tuple(_normalise(v) for v in key.values())] = (key, counts)
    return cells


def verify(session: Session) -> list[RollupDifference]:
    """Every rollup cell whose stored counts are not what its assignments add up to (cells of
    zeros count as absent)."""
    stored = _cells(session, f"SELECT {', '.join((*KEY, *COUNTS))} FROM coverage_rollups")
    expected = _cells(session, grouped_contributions())
    differences = []
    for cell in sorted(stored.keys() | expected.keys(), key=repr):
        key, have = stored.get(cell, (None, {}))
        key_expected, want = expected.get(cell, (None, {}))
        if have != want:
            differences.append(RollupDifference(key or key_expected or {}, have, want))
    return differences


def repair(session: Session) -> int:
    """Recompute every rollup cell from the rows, in the caller's transaction. Returns the number
    of cells that were wrong."""
    wrong = len(verify(session))
    for statement in rebuild_sql():
        session.execute(text(statement))
    return wrong


def prune(session: Session) -> None:
    """Drop cells left with no agent (moves and leavers leave zeros behind)."""
    session.execute(text(PRUNE_SQL))
