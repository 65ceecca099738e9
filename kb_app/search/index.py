"""Building the search index: one Whoosh index per audience tier, swapped in atomically.

Layout of the index directory:

    <index_dir>/CURRENT                 name of the live build (one line, replaced with os.replace)
    <index_dir>/builds/<build id>/      one complete build; the previous one is kept for rollback
        manifest.json                   when, from where, what (SOP and section counts per tier)
        T1/  T2/                        a Whoosh index per tier, plus side files:
            docs.json                   per-document table (ids, kind, status, tags, score factor)
            vocab.json                  word -> document frequency (typo correction, suggestions)
            tier.json                   tier metadata, including the tier's bulletins

A build is written under `builds/<build id>.tmp`, renamed when complete and only then named in
CURRENT, so a reader sees the old build or the new one, never half of one. Readers notice that
CURRENT changed and reopen (see kb_app.search.service).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from whoosh import index as whoosh_index
from whoosh.fields import STORED, TEXT, Schema

from kb_app.catalog import Catalog, Kind, Sop, Status, load_catalog
from kb_app.search.analysis import term_analyzer, words
from kb_app.search.documents import TIERS, is_searchable, page_path, tier_documents
from kb_app.search.languages import build_language_index, index_name

POINTER = "CURRENT"
BUILDS = "builds"
PARTIAL_SUFFIX = ".tmp"
FORMAT = 2  # bump when the layout or schema changes; readers refuse other formats
KEEP_BUILDS = 2  # the live build and the one before it (rollback)
STALE_PARTIAL_SECONDS = 3600

Progress = Callable[[str], None]


class SearchIndexError(Exception):
    """Base of search index errors."""


class IndexNotFound(SearchIndexError):
    """No build has been made yet (run `kb index`), or CURRENT names a build that is gone."""


class BuildError(SearchIndexError):
    """The build did not complete; the previous build (if any) is still the one being served."""

    def __init__(self, message: str, problems: Iterable = ()):
        super().__init__(message)
        self.problems = list(problems)


def make_schema() -> Schema:
    """Four searchable text fields; everything else is stored for results. Filters, facets and
    pins use the side table (docs.json), so ids, kinds and tags need no Whoosh postings."""
    analyzer = term_analyzer()
    return Schema(
        title=TEXT(analyzer=analyzer, stored=True),
        heading=TEXT(analyzer=analyzer, stored=True),
        body=TEXT(analyzer=analyzer, stored=True),
        tags=TEXT(analyzer=analyzer),
        key=STORED(),
        sop_id=STORED(),
        kind=STORED(),
        status=STORED(),
        version=STORED(),
        anchor=STORED(),
        level=STORED(),
        order=STORED(),
        tag=STORED(),
        owner=STORED(),
        tier=STORED(),
        visibility=STORED(),
        page=STORED(),
        expires=STORED(),
    )


@dataclass
class TierStats:
    sops: int = 0
    sections: int = 0
    bulletins: int = 0

    def to_dict(self) -> dict:
        return {"sops": self.sops, "sections": self.sections, "bulletins": self.bulletins}


@dataclass
class BuildReport:
    build_id: str
    path: Path
    built_at: datetime
    seconds: float
    tiers: dict[str, TierStats] = field(default_factory=dict)
    drafts_skipped: int = 0
    previous: str | None = None
    pruned: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "build_id": self.build_id,
            "path": str(self.path),
            "built_at": self.built_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "tiers": {tier: stats.to_dict() for tier, stats in self.tiers.items()},
            "drafts_skipped": self.drafts_skipped,
            "previous": self.previous,
            "pruned": self.pruned,
        }


# ---------------------------------------------------------------------------------------------
# Layout: the pointer file and the builds directory


def builds_dir(index_dir: Path) -> Path:
    return Path(index_dir) / BUILDS


def read_pointer(index_dir: Path | str) -> str | None:
    try:
        text = (Path(index_dir) / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def current_build(index_dir: Path | str) -> Path:
    """Directory of the live build; IndexNotFound when there is none."""
    index_dir = Path(index_dir)
    build_id = read_pointer(index_dir)
    if build_id is None:
        raise IndexNotFound(f"no search index in {index_dir}: run `kb index` first")
    path = builds_dir(index_dir) / build_id
    if not (path / "manifest.json").is_file():
        raise IndexNotFound(f"search index {index_dir} names build {build_id}, which is missing: run `kb index`")
    return path


def complete_builds(index_dir: Path | str) -> list[str]:
    """Ids of complete builds, oldest first (ids start with a UTC timestamp)."""
    root = builds_dir(Path(index_dir))
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.endswith(PARTIAL_SUFFIX) and (p / "manifest.json").is_file()
    )


def _write_pointer(index_dir: Path, build_id: str) -> None:
    temporary = index_dir / f"{POINTER}.{os.getpid()}{PARTIAL_SUFFIX}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(build_id + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, index_dir / POINTER)


@contextmanager
def _commit_lock(index_dir: Path):
    """Serialises the switch-and-prune step of concurrent builds (the builds themselves run in parallel)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one builder at a time is the operator's job
        yield
        return
    with open(index_dir / ".lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _new_build_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}"


def _writer_lock(partial: Path):
    """Held while a build writes `partial`: a partial whose lock nobody holds was abandoned (its
    builder was killed) and is removed at once by `prune`, not an hour later."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the hour-old rule alone applies
        return None
    handle = open(f"{partial}.lock", "a+")  # noqa: SIM115 - closed in _release_writer_lock
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    return handle


def _release_writer_lock(partial: Path, handle) -> None:
    if handle is not None:
        Path(f"{partial}.lock").unlink(missing_ok=True)
        handle.close()


def _abandoned(path: Path) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return False
    lock = Path(f"{path}.lock")
    if not lock.exists():
        return False  # no lock to ask (a builder of an older version): the hour-old rule decides
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its builder is alive and writing
        lock.unlink(missing_ok=True)
        return True


def prune(index_dir: Path | str, keep: Iterable[str]) -> list[str]:
    """Delete complete builds not in `keep`, and partial builds whose builder is gone."""
    index_dir = Path(index_dir)
    keep = set(keep)
    removed = []
    root = builds_dir(index_dir)
    if not root.is_dir():
        return removed
    now = time.time()
    for path in sorted(root.iterdir()):
        if not path.is_dir() or path.name in keep:
            continue
        if (
            path.name.endswith(PARTIAL_SUFFIX)
            and not _abandoned(path)
            and now - path.stat().st_mtime < STALE_PARTIAL_SECONDS
        ):
            continue  # another build is still writing it
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def activate_build(index_dir: Path | str, build_id: str, *, keep: int = KEEP_BUILDS) -> tuple[str | None, list[str]]:
    """Make a complete build the live one; returns (the build it replaced, the builds pruned)."""
    index_dir = Path(index_dir)
    with _commit_lock(index_dir):
        previous = read_pointer(index_dir)
        _write_pointer(index_dir, build_id)
        keep_ids = [build_id] + ([previous] if previous else [])
        if keep > len(keep_ids):
            others = [b for b in complete_builds(index_dir) if b not in keep_ids]
            keep_ids += others[-(keep - len(keep_ids)) :]
        return previous, prune(index_dir, keep_ids[: max(keep, 1)])


def restore_build(index_dir: Path | str, build_id: str) -> None:
    """Point CURRENT back at `build_id` (a publish whose commit failed undoes its swap)."""
    index_dir = Path(index_dir)
    with _commit_lock(index_dir):
        _write_pointer(index_dir, build_id)


def build_catalog_hash(index_dir: Path | str) -> str | None:
    """The catalog hash the live build was made from (None: no build, or one older than hashes)."""
    try:
        manifest = json.loads((current_build(index_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, SearchIndexError):
        return None
    return manifest.get("catalog_hash")


def rollback(index_dir: Path | str) -> str:
    """Serve the newest complete build older than the live one; returns its id."""
    index_dir = Path(index_dir)
    with _commit_lock(index_dir):
        live = read_pointer(index_dir)
        older = [b for b in complete_builds(index_dir) if live is None or b < live]
        if not older:
            raise IndexNotFound(f"no earlier build in {index_dir} to roll back to")
        _write_pointer(index_dir, older[-1])
        return older[-1]


# ---------------------------------------------------------------------------------------------
# Building


def build_index(
    source: Catalog | Path | str,
    index_dir: Path | str,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    keep: int = KEEP_BUILDS,
    activate: bool = True,
) -> BuildReport:
    """Index every non-draft SOP, one index per tier, and make the result the live build.

    `source` is a loaded Catalog or an SOP directory. A catalog with errors is refused (BuildError
    lists its problems) and any failure leaves the previous build serving. With `activate=False`
    the build is complete but not live: `activate_build` makes it live later (a publish does so
    just before its transaction commits).
    """
    started = time.perf_counter()
    say = progress or (lambda message: None)
    catalog = source if isinstance(source, Catalog) else load_catalog(Path(source))
    errors = [p for p in catalog.problems if getattr(p, "is_error", True)]
    if errors:
        raise BuildError(f"{len(errors)} SOP file(s) have errors; fix them (kb validate) and index again", errors)
    index_dir = Path(index_dir)
    builds_dir(index_dir).mkdir(parents=True, exist_ok=True)
    built_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    build_id = _new_build_id(datetime.now(timezone.utc))
    partial = builds_dir(index_dir) / f"{build_id}{PARTIAL_SUFFIX}"
    report = BuildReport(build_id, builds_dir(index_dir) / build_id, built_at, 0.0)
    report.drafts_skipped = sum(1 for sop in catalog if sop.status is Status.DRAFT)
    writing = _writer_lock(partial)
    try:
        partial.mkdir()
        for tier in TIERS:
            report.tiers[tier] = _build_tier(catalog, tier, partial / tier, built_at, say)
        languages: dict[str, int] = {}
        for language in catalog.translation_languages():
            for tier in TIERS:
                name = index_name(tier, language)
                languages[name] = build_language_index(catalog, tier, language, partial / name, built_at.date())
        if languages:
            say("indexed translations: " + ", ".join(f"{n} {c} sections" for n, c in languages.items()))
        manifest = {
            "format": FORMAT,
            "build_id": build_id,
            "built_at": built_at.isoformat(),
            "sop_dir": str(catalog.root),
            "catalog_hash": catalog.release_hash,
            "tiers": {tier: stats.to_dict() for tier, stats in report.tiers.items()},
            "drafts_skipped": report.drafts_skipped,
            "languages": languages,
        }
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        os.rename(partial, report.path)
    except BaseException as error:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(error, Exception) and not isinstance(error, BuildError):
            raise BuildError(f"index build failed: {error}") from error
        raise
    finally:
        _release_writer_lock(partial, writing)
    if activate:
        report.previous, report.pruned = activate_build(index_dir, build_id, keep=keep)
    report.seconds = time.perf_counter() - started
    say(
        f"search index {build_id}: "
        + ", ".join(f"{t} {s.sops} SOPs / {s.sections} sections" for t, s in report.tiers.items())
    )
    return report


def _build_tier(catalog: Catalog, tier: str, path: Path, built_at: datetime, say: Progress) -> TierStats:
    path.mkdir()
    ix = whoosh_index.create_in(str(path), make_schema())
    writer = ix.writer(limitmb=128)
    stats = TierStats()
    table: dict[str, list] = {
        name: [] for name in ("key", "sop_id", "kind", "status", "tags", "tiers", "factor", "order")
    }
    vocabulary: Counter[str] = Counter()
    sops_seen: set[str] = set()
    searchable = [sop for sop in catalog if is_searchable(sop, tier)]
    step = max(1, len(searchable) // 10)
    try:
        for count, document in enumerate(tier_documents(searchable, tier), start=1):
            writer.add_document(**document.fields())
            for name in ("key", "sop_id", "kind", "status", "factor", "order"):
                table[name].append(getattr(document, name))
            table["tags"].append(list(document.tags))
            table["tiers"].append(list(document.tiers))
            vocabulary.update(
                set(words(" ".join((document.title, document.heading, document.body, " ".join(document.tags)))))
            )
            if document.sop_id not in sops_seen:
                sops_seen.add(document.sop_id)
                if len(sops_seen) % step == 0:
                    say(f"indexing {tier}: {len(sops_seen)}/{len(searchable)} SOPs, {count} sections")
            stats.sections = count
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    stats.sops = len(sops_seen)
    bulletins = [_bulletin_entry(sop, tier) for sop in searchable if sop.kind is Kind.BULLETIN]
    stats.bulletins = len(bulletins)
    (path / "docs.json").write_text(json.dumps(table), encoding="utf-8")
    (path / "vocab.json").write_text(json.dumps(dict(sorted(vocabulary.items()))), encoding="utf-8")
    meta = {"tier": tier, "built_at": built_at.isoformat(), **stats.to_dict(), "bulletin_list": bulletins}
    (path / "tier.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    say(f"indexed {tier}: {stats.sops} SOPs, {stats.sections} sections")
    return stats


def _bulletin_entry(sop: Sop, tier: str) -> dict:
    sections = sop.sections_for(tier)
    first = next((s for s in sections if s.anchor), None)
    return {
        "sop_id": sop.id,
        "title": sop.title,
        "version": sop.version,
        "status": sop.status.value,
        "page": page_path(sop.rel_path or sop.path),
        "anchor": first.anchor if first else "",
        "effective": sop.effective.isoformat(),
        "expires": sop.expires.isoformat() if sop.expires else None,
    }
