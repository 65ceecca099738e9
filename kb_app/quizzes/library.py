"""The banks of one quiz directory, kept in memory and re-read only when a file changes.

A web worker asks for banks on every quiz request; parsing YAML and hashing each time would
dominate the request. `BankLibrary.current()` compares the directory's file names, sizes and
modification times with what it loaded (at most once a second), and reloads the whole set when
anything differs.
`bank_from_data` rebuilds a bank from a stored snapshot, cached by content hash.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from kb_app.problems import Problem
from kb_app.quizzes.bank import bank_files, bank_hash, read_banks
from kb_app.quizzes.schema import Bank

RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class LoadedBanks:
    """Banks by id with their content hashes, and the problems of files that did not load."""

    banks: dict[str, Bank] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every bank file loaded: only then may a missing bank mean "no bank"."""
        return not any(p.is_error for p in self.problems)

    def get(self, bank_id: str) -> Bank | None:
        return self.banks.get(bank_id)

    def update_banks_for(self, sop_id: str, version: str) -> list[Bank]:
        return [b for b in self.banks.values() if b.kind == "update" and b.sops == [sop_id] and b.version == version]


def load_directory(quiz_dir: Path) -> LoadedBanks:
    result = read_banks(Path(quiz_dir))
    return LoadedBanks(
        banks=dict(result.banks),
        hashes={bank_id: bank_hash(bank) for bank_id, bank in result.banks.items()},
        problems=tuple(result.problems),
    )


class BankLibrary:
    """Thread-safe cache of one directory's banks (shape-checked only; `kb validate` checks
    citations). The files are looked at again at most every `recheck_seconds` (a request path
    asks for the banks on every call; an edited bank file shows within that time)."""

    def __init__(self, quiz_dir: Path, recheck_seconds: float = RECHECK_SECONDS):
        self.quiz_dir = Path(quiz_dir)
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._checked = -math.inf
        self._loaded = LoadedBanks()

    def _signature_now(self) -> tuple:
        entries = []
        for path in bank_files(self.quiz_dir):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((path.name, stat.st_size, stat.st_mtime_ns))
        return tuple(entries)

    def current(self) -> LoadedBanks:
        if time.monotonic() - self._checked < self.recheck_seconds:
            return self._loaded
        signature = self._signature_now()
        if signature != self._signature:
            with self._lock:
                if signature != self._signature:
                    self._loaded = load_directory(self.quiz_dir)
                    self._signature = signature
        self._checked = time.monotonic()
        return self._loaded


_SNAPSHOT_CACHE: OrderedDict[str, Bank] = OrderedDict()
_SNAPSHOT_LOCK = threading.Lock()
SNAPSHOT_CACHE_SIZE = 64


def bank_from_data(bank_hash_value: str, data: dict) -> Bank:
    """The bank a snapshot holds (its `data` is `bank_to_data(bank)`), cached by hash."""
    with _SNAPSHOT_LOCK:
        cached = _SNAPSHOT_CACHE.get(bank_hash_value)
        if cached is not None:
            _SNAPSHOT_CACHE.move_to_end(bank_hash_value)
            return cached
    bank = Bank.model_validate(data)
    with _SNAPSHOT_LOCK:
        _SNAPSHOT_CACHE[bank_hash_value] = bank
        while len(_SNAPSHOT_CACHE) > SNAPSHOT_CACHE_SIZE:
            _SNAPSHOT_CACHE.popitem(last=False)
    return bank
