"""Search benchmark: relevance against lunr.py (MkDocs' own search) and speed against lunr.py and tantivy.

Run by hand (it takes a few minutes):

    .venv/bin/python bench/search.py                  # relevance + 1k and 10k synthetic sections
    .venv/bin/python bench/search.py --sizes 1000 --no-write

1. Relevance on two corpora: our SOPs (sop/, judged queries in tests/search_eval/queries.yml) and
   the GitLab support handbook (--handbook, default KB_HANDBOOK_DIR or ../shared/corpora/gitlab-handbook
   next to the repository; judged queries in tests/search_eval/gitlab_handbook_queries.yml). One
   document per section for every engine; MRR@10, recall@5 and success@5. Ours is measured by
   section (one row per section, the search page before grouping) and grouped by SOP, counted two
   ways (kb_app.search.evaluation): every listed section one rank ("as read"), every card one rank.
2. Speed: synthetic corpora of N sections (sentences of the real corpus, re-mixed, with extra
   invented words so the vocabulary grows the way a bigger corpus's would). For each engine:
   index build time, index size, and query latency p50/p95/p99 over the judged queries typed
   as Tier 1 agents would, with one warm searcher reused across queries (as a web worker does).
   The process is pinned to one CPU core. Ours is timed by section and grouped by SOP (the search
   page's query) in the same run.

Writes the `## Search` section of bench/RESULTS.md through bench/results.py (other sections are left alone).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from kb_app.catalog import load_catalog  # noqa: E402
from kb_app.search import SearchService, build_index  # noqa: E402
from kb_app.search.corpora import handbook_pages, write_handbook_sops  # noqa: E402
from kb_app.search.documents import tier_documents  # noqa: E402
from kb_app.search.evaluation import (  # noqa: E402
    card_keys,
    evaluate,
    evaluate_cards,
    grouped_keys,
    load_judged_queries,
    section_keys,
)
from results import write_section  # noqa: E402

CORPUS = ROOT / "sop"
QUERIES = ROOT / "tests" / "search_eval" / "queries.yml"
HANDBOOK_QUERIES = ROOT / "tests" / "search_eval" / "gitlab_handbook_queries.yml"
DEFAULT_HANDBOOK = ROOT.parent / "shared" / "corpora" / "gitlab-handbook"
SECTIONS_PER_SOP = 10


# -- the engines ----------------------------------------------------------------------------------


class Ours:
    name = "kb_app (Whoosh), by section"

    def __init__(self, catalog, workdir: Path):
        self.index_dir = workdir / "ours"
        started = time.perf_counter()
        build_index(catalog, self.index_dir)
        self.build_seconds = time.perf_counter() - started
        self.size = _tree_size(self.index_dir)
        self.service = SearchService(self.index_dir)
        self.service.warm()  # what a web worker does at start-up

    def search(self, query: str, tier: str = "T1") -> list[str]:
        return section_keys(self.service.search(query, tier=tier, limit=10))


class OursGrouped(Ours):
    """The search page's query: one result per SOP, its best sections beneath it."""

    name = "kb_app (Whoosh), grouped by SOP"

    def search(self, query: str, tier: str = "T1") -> list[str]:
        return grouped_keys(self.service.search(query, tier=tier, limit=10, group="sop"))

    def cards(self, query: str, tier: str = "T1") -> list[list[str]]:
        return card_keys(self.service.search(query, tier=tier, limit=10, group="sop"))


class Lunr:
    """lunr.py configured like the MkDocs search plugin: one entry per section, its heading as the
    title (boost 10) and its text; the query string goes to lunr as typed."""

    name = "lunr.py (MkDocs search)"

    def __init__(self, catalog, workdir: Path):
        from lunr import lunr

        self.indexes = {}
        started = time.perf_counter()
        size = 0
        for tier in ("T1", "T2"):
            documents = [{"id": d.key, "title": d.heading, "text": d.body} for d in tier_documents(catalog, tier)]
            index = lunr(ref="id", fields=[{"field_name": "title", "boost": 10}, "text"], documents=documents)
            self.indexes[tier] = index
            size += len(json.dumps(index.serialize()))
        self.build_seconds = time.perf_counter() - started
        self.size = size

    def search(self, query: str, tier: str = "T1") -> list[str]:
        from lunr.exceptions import QueryParseError

        index = self.indexes[tier]
        try:
            results = index.search(query)
        except QueryParseError:
            # MkDocs' page script would show nothing; retry without lunr's operators to be generous.
            results = index.search(re.sub(r"[:~^+\-*]", " ", query))
        return [r["ref"] for r in results[:10]]


class Tantivy:
    """tantivy with English stemming, heading and title boosted like ours; fuzzy not enabled."""

    name = "tantivy"

    def __init__(self, catalog, workdir: Path):
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("key", stored=True, tokenizer_name="raw")
        for name in ("title", "heading", "body"):
            builder.add_text_field(name, stored=True, tokenizer_name="en_stem")
        schema = builder.build()
        self.indexes = {}
        started = time.perf_counter()
        for tier in ("T1", "T2"):
            path = workdir / "tantivy" / tier
            path.mkdir(parents=True)
            index = tantivy.Index(schema, path=str(path))
            writer = index.writer(heap_size=64_000_000, num_threads=1)
            for d in tier_documents(catalog, tier):
                writer.add_document(tantivy.Document(key=d.key, title=d.title, heading=d.heading, body=d.body))
            writer.commit()
            writer.wait_merging_threads()
            index.reload()
            self.indexes[tier] = (index, index.searcher())
        self.build_seconds = time.perf_counter() - started
        self.size = _tree_size(workdir / "tantivy")

    def search(self, query: str, tier: str = "T1") -> list[str]:
        index, searcher = self.indexes[tier]
        cleaned = re.sub(r'[^\w\s"]', " ", query).replace('"', " ")
        if not cleaned.strip():
            return []
        parsed = index.parse_query(
            cleaned, ["heading", "title", "body"], field_boosts={"heading": 2.0, "title": 1.0, "body": 1.0}
        )
        hits = searcher.search(parsed, 10).hits
        return [searcher.doc(address)["key"][0] for _, address in hits]


ENGINES = (Ours, OursGrouped, Tantivy, Lunr)


# -- synthetic corpora ----------------------------------------------------------------------------


def synthetic_corpus(catalog, sections: int, target: Path, seed: int = 7) -> Path:
    """Write SOP files holding `sections` sections built from the real corpus's sentences."""
    rng = random.Random(seed)
    sentences, headings, title_words = [], [], []
    for document in tier_documents(catalog, "T2"):
        headings.append(document.heading)
        title_words.extend(w for w in re.findall(r"[A-Za-z]+", document.title) if len(w) > 3)
        sentences.extend(
            s.strip() for s in re.split(r"(?<=[.!?])\s+", document.body.replace("\n", " ")) if len(s.split()) > 3
        )
    # An invented vocabulary, Zipf-distributed, so the term dictionary grows like a real corpus's.
    invented = [
        "".join(rng.choice("bcdfghjklmnprstvwz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
        for _ in range(20000)
    ]
    weights = [1 / (rank + 1) for rank in range(len(invented))]
    target.mkdir(parents=True)
    procedures = target / "procedures"
    procedures.mkdir()
    for number in range(sections // SECTIONS_PER_SOP):
        sop_id = f"SYN-{number:05d}"
        body = []
        for section in range(SECTIONS_PER_SOP):
            body.append(f"## {rng.choice(headings)} {section} {{#s{section}}}\n")
            text = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 9)))
            words = text.split()
            for position in range(len(words)):
                if rng.random() < 0.12:
                    words[position] = rng.choices(invented, weights)[0]
            body.append(" ".join(words) + "\n")
        title = " ".join(rng.sample(title_words, 4)).capitalize()
        tags = rng.sample(["ato", "2fa", "sim", "email", "payments", "minors", "phishing", "sessions"], 2)
        (procedures / f"{sop_id.lower()}.md").write_text(
            f'---\nid: {sop_id}\ntitle: {title} {number}\nkind: sop\nversion: "1.0"\nstatus: active\n'
            f"owner: Training\naudience:\n  tiers: [T1, T2]\nvisibility: all\neffective: 2026-01-01\n"
            f'review_by: 2099-01-01\ntags: [{", ".join(tags)}]\nchangelog:\n  - version: "1.0"\n'
            f"    date: 2026-01-01\n    summary: Synthetic.\n---\n\n" + "\n".join(body),
            encoding="utf-8",
        )
    return target


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class SpeedRow:
    engine: str
    sections: int
    build_seconds: float
    size_bytes: int
    repeat_ms: list[float] = field(default_factory=list)  # CPU time of runs 2.. of each query
    first_ms: list[float] = field(default_factory=list)  # CPU time of the first run of each query
    repeat_wall_ms: list[float] = field(default_factory=list)  # wall-clock time of runs 2..

    def percentile(self, p: float, values: list[float] | None = None) -> float:
        values = sorted(values if values is not None else self.repeat_ms)
        if not values:
            return float("nan")
        index = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
        return values[index]


def measure_speed(engine_class, catalog, sections: int, queries: list[str], runs: int, workdir: Path) -> SpeedRow:
    engine = engine_class(catalog, workdir)
    row = SpeedRow(engine.name, sections, engine.build_seconds, engine.size)
    for run in range(runs):
        for query in queries:
            started, started_cpu = time.perf_counter(), time.thread_time()
            engine.search(query, "T1")
            cpu = (time.thread_time() - started_cpu) * 1000
            wall = (time.perf_counter() - started) * 1000
            if run == 0:
                row.first_ms.append(cpu)
            else:
                row.repeat_ms.append(cpu)
                row.repeat_wall_ms.append(wall)
    return row


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def pin_to_one_core() -> str:
    try:
        core = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity)"


# -- report ---------------------------------------------------------------------------------------


def _load() -> str:
    try:
        return "load average %.1f" % os.getloadavg()[0]
    except (AttributeError, OSError):
        return "load average unknown"


def render(
    relevance: dict[str, dict[str, dict]],
    corpora: dict[str, str],
    speed: list[SpeedRow],
    runs: int,
    pinning: str,
    load: str,
) -> str:
    lines = [
        f"Run by `bench/search.py` ({pinning}, {load} at the start; other work shares the machine, so",
        "latencies include its noise).",
        "",
    ]
    for corpus, described in corpora.items():
        lines += [
            f"### Relevance: {described}",
            "",
            "| engine | MRR@10 | recall@5 | success@5 |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, summary in relevance[corpus].items():
            lines.append(
                f"| {name} | {summary['mrr@10']:.3f} | {summary['recall@5']:.3f} | {summary['success@5']:.3f} |"
            )
        lines.append("")
    lines += [
        "*By section* is one row per section (the search page before grouping; the API without `group`).",
        "*Grouped by SOP, as read* counts every section a card lists as one rank, in reading order: the",
        "like-for-like figure. *Per card* counts every card as one rank (how many results an agent passes",
        "before the right SOP); its recall@5 counts the sections listed on the first five cards.",
        "lunr.py is configured like the MkDocs search plugin (section heading boosted 10, section text).",
        "tantivy uses English stemming and the same field boosts as ours, without synonyms or typo tolerance.",
        "",
        f"### Speed (synthetic corpora, judged queries as Tier 1, one warm searcher, {runs} runs)",
        "",
        "| engine | sections | build (both tiers) | index size | p50 | p95 | p99 | p99 wall clock | first run p50 | first run p99 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in speed:
        lines.append(
            f"| {row.engine} | {row.sections:,} | {row.build_seconds:.1f} s | {row.size_bytes / 1e6:.1f} MB | "
            f"{row.percentile(50):.2f} ms | {row.percentile(95):.2f} ms | {row.percentile(99):.2f} ms | "
            f"{row.percentile(99, row.repeat_wall_ms):.2f} ms | "
            f"{row.percentile(50, row.first_ms):.2f} ms | {row.percentile(99, row.first_ms):.2f} ms |"
        )
    lines += [
        "",
        "Latencies are CPU time of the searching thread (the machine is shared, so wall-clock time also",
        "counts other processes; its p99 is shown for reference). tantivy may use helper threads, whose",
        "time is not counted.",
        f'p50/p95/p99 are over runs 2 to {runs} of every query; "first run" is each query\'s first run. The',
        "searcher is opened and warmed (`SearchService.warm()`) before timing, as a web worker does at start-up.",
        "Ours caches each term's scored postings and each clause's scores per build, so a query's first run",
        "reads postings its terms have not needed before; repeated and overlapping queries (the usual traffic",
        "on a live queue) come from memory. Ours also returns more per query than the others: snippets with",
        "marks, facet counts over every match, total, suggestions and pinned bulletins; tantivy and lunr",
        "return ranked ids only. Grouped by SOP lists up to five sections per card (a snippet for the first).",
        "",
    ]
    return "\n".join(lines)


def relevance_of(catalog, judged, workdir: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for engine_class in ENGINES:
        engine = engine_class(catalog, workdir / f"rel-{engine_class.__name__}")
        if isinstance(engine, OursGrouped):
            out[f"{engine.name}, as read"] = evaluate(engine.search, judged).summary()
            out[f"{engine.name}, per card"] = evaluate_cards(engine.cards, judged).summary()
        else:
            out[engine.name] = evaluate(engine.search, judged).summary()
    for name, summary in out.items():
        print(f"relevance {name}: {summary}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="synthetic corpus sizes in sections (comma separated)")
    parser.add_argument("--runs", type=int, default=5, help="runs of the query set per engine and size")
    parser.add_argument(
        "--handbook",
        type=Path,
        default=Path(os.environ.get("KB_HANDBOOK_DIR") or DEFAULT_HANDBOOK),
        help="the GitLab handbook corpus (default: KB_HANDBOOK_DIR, else ../shared/corpora/gitlab-handbook)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing bench/RESULTS.md")
    args = parser.parse_args(argv)
    if not handbook_pages(args.handbook):
        parser.error(f"no handbook pages under {args.handbook}/content/handbook (set --handbook or KB_HANDBOOK_DIR)")
    load = _load()
    pinning = pin_to_one_core()
    catalog = load_catalog(CORPUS)
    judged = load_judged_queries(QUERIES)
    handbook_judged = load_judged_queries(HANDBOOK_QUERIES)
    relevance = {}
    with tempfile.TemporaryDirectory() as workdir:
        write_handbook_sops(args.handbook, Path(workdir) / "handbook")
        handbook = load_catalog(Path(workdir) / "handbook")
        relevance["ours"] = relevance_of(catalog, judged, Path(workdir) / "ours")
        relevance["handbook"] = relevance_of(handbook, handbook_judged, Path(workdir) / "hb")
        corpora = {
            "ours": f"our SOPs ({len(catalog)} SOPs, {len(judged)} judged queries in `tests/search_eval/queries.yml`)",
            "handbook": f"GitLab support handbook ({len(handbook)} pages, {len(handbook_judged)} judged queries "
            "in `tests/search_eval/gitlab_handbook_queries.yml`)",
        }
        speed = []
        queries = [q.query for q in judged if q.tier == "T1"]
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            corpus_dir = synthetic_corpus(catalog, size, Path(workdir) / f"corpus-{size}")
            synthetic = load_catalog(corpus_dir)
            for engine_class in ENGINES:
                row = measure_speed(
                    engine_class,
                    synthetic,
                    size,
                    queries,
                    args.runs,
                    Path(workdir) / f"speed-{size}-{engine_class.__name__}",
                )
                speed.append(row)
                print(
                    f"speed {row.engine} {size}: build {row.build_seconds:.1f}s size {row.size_bytes / 1e6:.1f}MB "
                    f"p50 {row.percentile(50):.2f} p95 {row.percentile(95):.2f} p99 {row.percentile(99):.2f} ms CPU, "
                    f"p99 {row.percentile(99, row.repeat_wall_ms):.2f} ms wall",
                    file=sys.stderr,
                )
            shutil.rmtree(corpus_dir, ignore_errors=True)
    section = render(relevance, corpora, speed, args.runs, pinning, load)
    if args.no_write:
        print(section)
    else:
        write_section("Search", section)
        print("wrote the Search section of bench/RESULTS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
