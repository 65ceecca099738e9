"""Translations benchmark: site build time per added language, and the staleness checks at
500 SOPs x 5 languages.

    python bench/translations.py [--repeat 3] [--no-write]

Sites: the real corpus (its translations included) built for both audiences with 0, 1, 2 and 3
translated languages; each language adds one site per audience. The "before" row is main's
code before translations (`--before REV`, exported with `git archive`) building its own corpus,
next to this branch's code building the same corpus with no languages, in the same run.

Staleness: the corpus copied 20x (500 SOPs) with a translation of every SOP into 5 languages
(2,500 translation files; a mix of current, minor-behind and stale), then loading the catalog,
`kb validate`'s translation rules and the status table (what `kb translations status` prints).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kb_app.catalog import load_catalog  # noqa: E402
from kb_app.catalog.staleness import status_table  # noqa: E402
from kb_app.catalog.translation_rules import validate_translations  # noqa: E402
from kb_app.sites import build_sites  # noqa: E402
from results import median, table, write_section  # noqa: E402

# bench/site.py shares its name with the standard library's `site`, which is always imported first.
_spec = importlib.util.spec_from_file_location("bench_site", Path(__file__).with_name("site.py"))
_bench_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench_site)
load_note, scaled_corpus = _bench_site.load_note, _bench_site.scaled_corpus

LANGUAGES = ["es", "tl", "ar", "pl", "pt"]
MAIN_BUILD = """
import sys, time
sys.path.insert(0, {main!r})
from kb_app.sites import build_sites
started = time.perf_counter()
build_sites({sop!r}, {site!r}, ["T1", "T2"])
print(time.perf_counter() - started)
"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed_build(sop_dir: Path, site_dir: Path, languages: list[str]) -> float:
    started = time.perf_counter()
    build_sites(sop_dir, site_dir, ["T1", "T2"], languages=languages)
    return time.perf_counter() - started


def export(revision: str, target: Path) -> Path:
    target.mkdir()
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def sites_rows(repeat: int, before: str) -> list[list]:
    logging.getLogger("mkdocs").setLevel(logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-lang-sites-") as tmp:
        work = Path(tmp)
        if before:
            main_dir = export(before, work / "before")
            main_sop = main_dir / "sop"
            before_rev = before
            before, ours = [], []
            for attempt in range(repeat):
                progress(f"{before_rev}: its code vs ours on its corpus, run {attempt + 1}/{repeat} ...")
                code = MAIN_BUILD.format(main=str(main_dir), sop=str(main_sop), site=str(work / f"main-{attempt}"))
                out = subprocess.run([sys.executable, "-c", code], cwd=main_dir, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"the build at {before_rev} failed: {out.stderr[-400:]}")
                before.append(float(out.stdout.strip().splitlines()[-1]))
                ours.append(timed_build(main_sop, work / f"ours-main-{attempt}", []))
            rows.append([f"{before_rev}'s corpus, {before_rev}'s code (before)", 0, 2, f"{median(before):.2f}", "–"])
            rows.append([f"{before_rev}'s corpus, this branch, no language", 0, 2, f"{median(ours):.2f}", "–"])
        sop_dir = work / "sop"
        shutil.copytree(ROOT / "sop", sop_dir)
        base = None
        for languages in ([], ["es"], ["es", "tl"], ["es", "tl", "pl"]):
            runs = []
            for attempt in range(repeat):
                progress(f"this corpus with {languages or 'no'} languages, run {attempt + 1}/{repeat} ...")
                runs.append(timed_build(sop_dir, work / f"site-{len(languages)}-{attempt}", languages))
            seconds = median(runs)
            base = seconds if base is None else base
            per_language = f"{(seconds - base) / len(languages):.2f}" if languages else "–"
            label = "this corpus, " + (", ".join(languages) if languages else "no language")
            rows.append([label, len(languages), 2 + 2 * len(languages), f"{seconds:.2f}", per_language])
    return rows


_VERSION = re.compile(r'^version: "(\d+)\.(\d+)"', re.M)


def write_translations(sop_dir: Path) -> dict[str, int]:
    """A translation of every SOP into each language: the source body (anchors kept) under new
    front matter; every third current, every third one minor behind (when the source has an
    older minor), the rest stale (when it has an older major)."""
    catalog = load_catalog(sop_dir)
    states = {"current": 0, "older": 0}
    for index, sop in enumerate(catalog):
        versions = [c.version for c in sop.changelog]
        for language in LANGUAGES:
            pick = (index + LANGUAGES.index(language)) % 3
            version = versions[min(pick, len(versions) - 1)]
            states["current" if version == sop.version else "older"] += 1
            front = (
                f'---\ntranslation_of: {sop.id}\nsource_version: "{version}"\nlanguage: {language}\n'
                f"title: {sop.id} ({language})\ntranslated_by: Bench\nreviewed_by: Bench\ntranslated_on: 2026-11-01\n---\n"
            )
            target = Path(sop.path).with_name(f"{Path(sop.rel_path).stem}.{language}.md")
            target.write_text(front + sop.body, encoding="utf-8")
    return states


def staleness_rows(repeat: int) -> list[list]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-staleness-") as tmp:
        sop_dir = Path(tmp) / "sop"
        count = scaled_corpus(ROOT / "sop", sop_dir, 20)
        plain = []
        for _ in range(repeat):
            started = time.perf_counter()
            load_catalog(sop_dir)
            plain.append(time.perf_counter() - started)
        write_translations(sop_dir)
        loads, rules, tables = [], [], []
        for attempt in range(repeat):
            progress(f"{count} SOPs x {len(LANGUAGES)} languages, run {attempt + 1}/{repeat} ...")
            started = time.perf_counter()
            catalog = load_catalog(sop_dir)
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            # Older versions are not in git here: their structure check is skipped (a warning).
            problems = validate_translations(
                catalog, lookup=lambda sop, version: sop if version == sop.version else None
            )
            rules.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = status_table(catalog, LANGUAGES, date(2026, 12, 1))
            tables.append(time.perf_counter() - started)
        errors = [p for p in problems if p.is_error]
        if errors:
            raise SystemExit(f"bench translations do not validate: {errors[0]}")
        states: dict[str, int] = {}
        for row in result:
            states[row.state.value] = states.get(row.state.value, 0) + 1
        translated = len(catalog.translations)
        rows.append(["load catalog, no translations", count, 0, f"{median(plain):.2f}"])
        rows.append(["load catalog with translations", count, translated, f"{median(loads):.2f}"])
        rows.append(["translation rules of `kb validate`", count, translated, f"{median(rules):.2f}"])
        rows.append(
            [
                "status table (" + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + ")",
                count,
                translated,
                f"{median(tables) * 1000:.0f} ms",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--before", default="21f0d03", help="git revision before translations, for 'before' ('' skips it)"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    note = load_note()
    site = table(
        ["build", "languages", "sites", "T1 + T2 + language sites (s)", "per added language (s)"],
        sites_rows(args.repeat, args.before),
    )
    stale = table(["step", "SOPs", "translations", "time"], staleness_rows(args.repeat))
    body = (
        "### Site build per added language (real corpus, both audiences)\n\n"
        + site
        + f"\n\nMedian of {args.repeat} runs, no mermaid vendored. Each language adds a T1 and a T2 site: every page "
        "of the audience in that language (the translation where servable, the source with a note elsewhere). "
        "The first two rows build the corpus of the revision before translations with that revision's code and "
        "with this branch's code."
        + note
        + "\n\n### Staleness checks at 500 SOPs x 5 languages\n\n"
        + stale
        + f"\n\nMedian of {args.repeat} runs. 2,500 translation files beside 500 SOPs (the corpus copied 20x). "
        "*translation rules* compares sections, tier blocks and links of every translation with its source "
        "version (older versions come from git history in a real checkout; here only current ones are compared)."
    )
    print(body)
    if not args.no_write:
        write_section("Translations", body)


if __name__ == "__main__":
    os.environ.setdefault("KB_LANGUAGES", ",".join(LANGUAGES))
    main()
