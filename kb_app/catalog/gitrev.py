"""Read the SOPs as they were at a git revision, to catch text changed without a version bump."""

from __future__ import annotations

import posixpath
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kb_app.catalog.facts import Fact, FACTS_FILE, FactBook, apply_facts, parse_facts, step_index
from kb_app.catalog.frontmatter import decode
from kb_app.catalog.model import SKIPPED_FILES, Sop, parse_sop
from kb_app.catalog.translations import is_translation_file
from kb_app.problems import InputError


class GitUnavailable(Exception):
    """No git, not a repository, or the revision does not exist."""


@dataclass
class RevisionCatalog:
    revision: str
    sops: dict[str, Sop]


def _git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitUnavailable("git is not installed") from None
    if result.returncode != 0:
        raise GitUnavailable(result.stderr.decode("utf-8", "replace").strip() or f"git {' '.join(args)} failed")
    return result.stdout


def resolve_revision(sop_dir: Path, revision: str = "HEAD") -> str:
    """The commit id `revision` names, from the repository holding `sop_dir`."""
    return _git(Path(sop_dir).resolve(), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()


def load_at_revision(sop_dir: Path, revision: str = "HEAD") -> RevisionCatalog:
    """Every SOP file under `sop_dir` at `revision`, parsed; files that did not parse are skipped."""
    sop_dir = sop_dir.resolve()
    if not sop_dir.is_dir():
        raise GitUnavailable(f"{sop_dir} is not a directory")
    top = Path(_git(sop_dir, "rev-parse", "--show-toplevel").decode().strip())
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
    prefix = sop_dir.relative_to(top.resolve()).as_posix()
    listing = _git(top, "ls-tree", "-r", "-z", "--name-only", commit, "--", prefix if prefix != "." else ".")
    files = listing.decode("utf-8", "replace").split("\0")
    names = [
        n
        for n in files
        if n.endswith(".md") and Path(n).name not in SKIPPED_FILES and not is_translation_file(Path(n).name)
    ]
    facts_name = posixpath.join(prefix, FACTS_FILE) if prefix != "." else FACTS_FILE
    has_facts = facts_name in files
    sops: dict[str, Sop] = {}
    if not names:
        return RevisionCatalog(commit, sops)
    wanted = names + ([facts_name] if has_facts else [])
    request = "".join(f"{commit}:{name}\n" for name in wanted).encode()
    blob = _git(top, "cat-file", "--batch", input=request)
    position = 0
    facts: dict[str, Fact] = {}
    for name in wanted:
        header_end = blob.index(b"\n", position)
        header = blob[position:header_end].split()
        size = int(header[2])
        content = blob[header_end + 1 : header_end + 1 + size]
        position = header_end + 1 + size + 1
        if name == facts_name and has_facts:
            facts, _ = parse_facts(content.decode("utf-8", "replace"), f"{revision}:{name}")
            continue
        try:
            sop = parse_sop(decode(content, name), f"{revision}:{name}")
        except InputError:
            continue
        sops.setdefault(sop.id, sop)
    # The text agents read at that revision: its markers rendered with that revision's facts.
    apply_facts(list(sops.values()), FactBook(facts, step_index(list(sops.values()))))
    return RevisionCatalog(commit, sops)


def sop_versions_in_history(sop_dir: Path, rel_path: str) -> dict[str, Sop]:
    """Every version of one SOP file that git history holds, by version (the newest text of each).

    Used to check an older translation against the source version it translates.
    """
    sop_dir = sop_dir.resolve()
    top = Path(_git(sop_dir, "rev-parse", "--show-toplevel").decode().strip())
    name = (sop_dir.relative_to(top.resolve()) / rel_path).as_posix()
    commits = _git(top, "log", "--format=%H", "--", name).decode().split()
    found: dict[str, Sop] = {}
    if not commits:
        return found
    blob = _git(top, "cat-file", "--batch", input="".join(f"{c}:{name}\n" for c in commits).encode())
    position = 0
    for commit in commits:
        header_end = blob.index(b"\n", position)
        header = blob[position:header_end].split()
        position = header_end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        content = blob[position : position + size]
        position += size + 1
        try:
            sop = parse_sop(decode(content, name), f"{commit[:10]}:{name}")
        except InputError:
            continue
        found.setdefault(sop.version, sop)  # `git log` is newest first
    return found
