"""Site build benchmark: `kb build-site` against a plain `mkdocs build` of the same pages.

    python bench/site.py [--sop-dir sop] [--scales 1,20] [--repeat 3]

At each scale the corpus is copied that many times with renamed ids into a temp dir. Our build
is timed per audience (T1, T2) and for both; the baseline is MkDocs' own build (through its
Python API, like ours) of the unchanged SOP files with a default Material config: no hooks,
no overrides, no generated pages, not strict.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from kb_app.catalog import load_catalog, validate_catalog  # noqa: E402
from kb_app.catalog.facts import FACTS_FILE  # noqa: E402
from kb_app.catalog.sections import MARKDOWN_EXTENSIONS  # noqa: E402
from kb_app.sites import build_sites, find_mermaid  # noqa: E402
from results import median, table, write_section  # noqa: E402

PLAIN_CONFIG = """site_name: Plain baseline
theme:
  name: material
markdown_extensions:
{extensions}
  - pymdownx.tabbed:
      alternate_style: true
"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scaled_corpus(source: Path, target: Path, copies: int) -> int:
    """Write `copies` copies of the corpus with every id (and file name) suffixed per copy."""
    catalog = load_catalog(source)
    if (source / FACTS_FILE).is_file():  # the facts every copy's `{{ fact:... }}` markers name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / FACTS_FILE, target / FACTS_FILE)
    ids = sorted((s.id for s in catalog), key=len, reverse=True)
    id_pattern = re.compile(r"(?<![A-Z0-9-])(" + "|".join(map(re.escape, ids)) + r")(?![A-Z0-9-])")
    stem_pattern = re.compile(r"(?<![a-z0-9-])(" + "|".join(re.escape(i.lower()) for i in ids) + r")\.md")
    for copy in range(1, copies + 1):
        suffix = f"-C{copy}" if copies > 1 else ""
        for sop in catalog:
            text = Path(sop.path).read_text(encoding="utf-8")
            if suffix:
                text = id_pattern.sub(lambda m, suffix=suffix: m.group(1) + suffix, text)
                text = stem_pattern.sub(lambda m, suffix=suffix: m.group(1) + suffix.lower() + ".md", text)
            rel = Path(sop.rel_path)
            out = target / rel.parent / f"{rel.stem}{suffix.lower()}.md"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
    return len(catalog) * copies


def plain_build(sop_dir: Path, work: Path) -> float:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    docs = work / "docs"
    shutil.copytree(sop_dir, docs, dirs_exist_ok=True)
    (docs / "README.md").unlink(missing_ok=True)
    (docs / "index.md").write_text("# Plain baseline\n", encoding="utf-8")
    extensions = "\n".join(f"  - {name}" for name in MARKDOWN_EXTENSIONS if name != "pymdownx.tabbed")
    config_file = work / "mkdocs.yml"
    config_file.write_text(PLAIN_CONFIG.format(extensions=extensions), encoding="utf-8")
    started = time.perf_counter()
    build(load_config(str(config_file), site_dir=str(work / "site")))
    return time.perf_counter() - started


def our_build(
    sop_dir: Path, site_dir: Path, audiences: list[str], mermaid: Path | None, previews: bool = False
) -> float:
    started = time.perf_counter()
    build_sites(sop_dir, site_dir, audiences, mermaid_js=mermaid, previews=previews)
    return time.perf_counter() - started


def run(source: Path, scales: list[int], repeat: int) -> list[list]:
    logging.getLogger("mkdocs").setLevel(logging.ERROR)  # the baseline is not strict; keep it quiet
    asset = find_mermaid(ROOT / "var" / "vendor")
    mermaid = asset.path if asset else None
    rows = []
    for scale in scales:
        with tempfile.TemporaryDirectory(prefix=f"kb-bench-site-{scale}x-") as tmp:
            work = Path(tmp)
            sop_dir = work / "sop"
            count = scaled_corpus(source, sop_dir, scale)
            started = time.perf_counter()
            report = validate_catalog(load_catalog(sop_dir), against=None)
            validation = time.perf_counter() - started
            if not report.ok:
                raise SystemExit(f"the {scale}x corpus does not validate: {report.errors[0]}")
            times: dict[str, list[float]] = {"T1": [], "T2": [], "both": [], "previews": [], "plain": []}
            for attempt in range(repeat):
                progress(f"{scale}x ({count} SOPs), run {attempt + 1}/{repeat} ...")
                for key, audiences in (("T1", ["T1"]), ("T2", ["T2"]), ("both", ["T1", "T2"])):
                    times[key].append(our_build(sop_dir, work / f"site-{key}", audiences, mermaid))
                # What `kb build-site` and a publish build: both sites and each audience's preview.
                times["previews"].append(
                    our_build(sop_dir, work / "site-previews", ["T1", "T2"], mermaid, previews=True)
                )
                times["plain"].append(plain_build(sop_dir, work / f"plain-{attempt}"))
            t1_pages = sum(1 for _ in (work / "site-both" / "T1").rglob("index.html"))
            t2_pages = sum(1 for _ in (work / "site-both" / "T2").rglob("index.html"))
            plain, t2 = median(times["plain"]), median(times["T2"])
            rows.append(
                [
                    f"{scale}x",
                    count,
                    f"{t1_pages} / {t2_pages}",
                    f"{validation:.2f}",
                    f"{median(times['T1']):.2f}",
                    f"{t2:.2f}",
                    f"{median(times['both']):.2f}",
                    f"{median(times['previews']):.2f}",
                    f"{plain:.2f}",
                    f"{t2 / plain:.2f}x",
                ]
            )
    return rows


def load_note() -> str:
    load = os.getloadavg()[0]
    return f" Load average {load:.1f} on {os.cpu_count()} cores at the start" + (
        " (other work shared the machine, so the figures are noisy)." if load > (os.cpu_count() or 1) * 0.5 else "."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sop-dir", type=Path, default=ROOT / "sop")
    parser.add_argument("--scales", default="1,20", help="comma-separated corpus multipliers")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    report = validate_catalog(load_catalog(args.sop_dir), against=None)
    if not report.ok:
        raise SystemExit(f"{args.sop_dir} does not validate ({len(report.errors)} errors); run `kb validate`")
    note = load_note()
    rows = run(args.sop_dir, [int(s) for s in args.scales.split(",")], args.repeat)
    headers = [
        "corpus",
        "SOPs",
        "pages T1 / T2",
        "load + validate (s)",
        "kb T1 (s)",
        "kb T2 (s)",
        "kb T1+T2 (s)",
        "kb T1+T2 + previews (s)",
        "plain mkdocs (s)",
        "kb T2 / plain",
    ]
    result = table(headers, rows)
    print(result)
    if args.no_write:
        return
    notes = (
        f"Median of {args.repeat} runs. *kb* is `build_sites` (validation, staging, strict MkDocs build with the "
        "theme overrides and hook, leak check, manifest, atomic swap); *plain* is MkDocs' own build of the same "
        "SOP files with a default Material config (same Markdown extensions, search plugin, no hooks, overrides "
        "or generated index pages, not strict). T2 has every page, so *kb T2 / plain* compares the same pages. "
        "Copies are the real corpus with ids and file names suffixed `-C<n>`. *load + validate* is the catalog "
        "part of every kb build (one run), included in the kb columns. *+ previews* adds the preview build of "
        "each audience (drafts included, for trainers), which `kb build-site` and a publish also build. "
        "The copies hold no draft, so each preview has the pages of its audience's site."
        + (
            " Mermaid was vendored, so each build also copies mermaid.min.js."
            if find_mermaid(ROOT / "var" / "vendor")
            else ""
        )
        + note
    )
    write_section("Site build", f"{result}\n\n{notes}")


if __name__ == "__main__":
    main()
