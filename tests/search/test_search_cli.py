"""`kb index` and `kb search` from the command line: options, environment, output and exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb_app.cli import main
from fixtures.search import write_corpus


@pytest.fixture
def corpus(sop_dir):
    write_corpus(sop_dir)
    return sop_dir


@pytest.fixture
def indexed(corpus, tmp_path):
    index_dir = tmp_path / "index"
    result = CliRunner().invoke(main, ["index", "--sop-dir", str(corpus.root), "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    return index_dir


def test_kb_index_builds_and_reports(corpus, tmp_path):
    result = CliRunner().invoke(main, ["index", "--sop-dir", str(corpus.root), "--index-dir", str(tmp_path / "index")])
    assert result.exit_code == 0
    assert "T1: 11 SOPs" in result.stdout and "T2: 12 SOPs" in result.stdout and "is live" in result.stdout
    assert "indexed T1" in result.stderr  # progress goes to stderr


def test_kb_index_json(corpus, tmp_path):
    result = CliRunner().invoke(
        main, ["index", "--json", "--sop-dir", str(corpus.root), "--index-dir", str(tmp_path / "index")]
    )
    report = json.loads(result.stdout)
    assert report["tiers"]["T1"]["sops"] == 11 and report["drafts_skipped"] == 1


def test_kb_index_honours_environment(corpus, tmp_path):
    env = {"KB_SOP_DIR": str(corpus.root), "KB_INDEX_DIR": str(tmp_path / "env-index")}
    assert CliRunner().invoke(main, ["index"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["search", "cooling off", "--json"], env=env)
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["anchor"] == "cooling-off"


def test_kb_index_refuses_a_broken_catalog(corpus, tmp_path):
    corpus.write("BROKEN", raw="---\nid: BROKEN\n---\nbody\n")
    result = CliRunner().invoke(main, ["index", "--sop-dir", str(corpus.root), "--index-dir", str(tmp_path / "index")])
    assert result.exit_code == 1
    assert "broken.md:" in result.stderr and "kb validate" in result.stderr


def test_kb_index_rollback(corpus, indexed):
    runner = CliRunner()
    assert runner.invoke(main, ["index", "--rollback", "--index-dir", str(indexed)]).exit_code == 1  # nothing older
    runner.invoke(main, ["index", "--sop-dir", str(corpus.root), "--index-dir", str(indexed)])
    result = runner.invoke(main, ["index", "--rollback", "--index-dir", str(indexed)])
    assert result.exit_code == 0 and "rolled back" in result.stdout


def test_kb_search_without_an_index_says_to_run_kb_index(tmp_path):
    result = CliRunner().invoke(main, ["search", "hacked", "--index-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "kb index" in result.stderr and result.stdout == ""


def test_kb_search_json_is_a_list_of_results(indexed):
    result = CliRunner().invoke(main, ["search", "verify", "ownership", "--json", "--index-dir", str(indexed)])
    assert result.exit_code == 0
    hits = json.loads(result.stdout)
    assert isinstance(hits, list) and hits
    assert {"sop_id", "title", "section", "anchor", "url", "snippet", "score"} <= set(hits[0])
    assert hits[0]["url"] == "/sop/procedures/ato-recovery/#verify-ownership"


def test_kb_search_human_output_reads_in_a_terminal(indexed):
    result = CliRunner().invoke(main, ["search", "verfy ownership", "--limit", "2", "--index-dir", str(indexed)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PINNED") and "BUL-2026-11-WAVE" in lines[0]
    assert " 1. ATO-RECOVERY  Hacked account recovery  (sop v1.0)" in lines
    assert "    \u00a7 Verify ownership  /sop/procedures/ato-recovery/#verify-ownership" in lines
    assert "<mark>" not in result.stdout and "\x1b[" not in result.stdout  # no markup, no colour when piped
    assert "Did you mean: verify ownership" in result.stdout


def test_kb_search_tier_option(indexed):
    runner = CliRunner()
    t1 = runner.invoke(main, ["search", "quokka", "--json", "--index-dir", str(indexed)])
    t2 = runner.invoke(main, ["search", "quokka", "--json", "--tier", "t2", "--index-dir", str(indexed)])
    assert json.loads(t1.stdout) == []
    assert json.loads(t2.stdout)[0]["sop_id"] == "T2-INSIDER-RISK"


def test_kb_search_no_results_is_not_an_error(indexed):
    result = CliRunner().invoke(main, ["search", "zzzzqqq", "--index-dir", str(indexed)])
    assert result.exit_code == 0 and "No results" in result.stdout


@pytest.mark.parametrize("args", [["--tier", "T3"], ["--limit", "0"], ["--limit", "x"], []])
def test_kb_search_usage_errors_exit_2(indexed, args):
    query = ["hacked"] if args else []
    assert CliRunner().invoke(main, ["search", *query, *args, "--index-dir", str(indexed)]).exit_code == 2
