"""A problem found in an input file, reported as `path:line: severity: message`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str
    severity: Severity = Severity.ERROR

    @classmethod
    def error(cls, path: str | Path, line: int, message: str) -> "Problem":
        return cls(str(path), max(int(line), 1), message, Severity.ERROR)

    @classmethod
    def warning(cls, path: str | Path, line: int, message: str) -> "Problem":
        return cls(str(path), max(int(line), 1), message, Severity.WARNING)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity.value}: {self.message}"

    def to_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "severity": self.severity.value, "message": self.message}


class InputError(Exception):
    """Raised when an input cannot be used at all; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
