"""Translations: loading, `kb validate` rules (every bad input of issue 13) and staleness states."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fixtures.sops import git

from kb_app.catalog import load_catalog, validate_catalog
from kb_app.catalog.staleness import TranslationState, state_of, status_table
from kb_app.cli import main

T2_BODY = """## Purpose {#purpose}

Use this procedure when a customer reports a takeover.

## Steps {#steps}

1. Secure the account.

/// tier | T2
Tier 2 only: compare the login IP history with the attacker ASN list.
///
"""

T2_TRANSLATED = """## Propósito {#purpose}

Use este procedimiento cuando un cliente informe una toma de control.

## Pasos {#steps}

1. Proteja la cuenta.

/// tier | T2
Solo Tier 2: compare el historial de IP con la lista de ASN del atacante.
///
"""


def _errors(sop_dir, against=None):
    report = validate_catalog(load_catalog(sop_dir.root), against=against)
    return [p for p in report.problems if p.is_error]


def _one_error(sop_dir, needle: str):
    errors = _errors(sop_dir)
    assert any(needle in p.message for p in errors), [str(p) for p in errors]
    return next(p for p in errors if needle in p.message)


def test_a_good_translation_loads_beside_its_source_and_validates(sop_dir):
    sop_dir.write("ATO-RECOVERY", body=T2_BODY)
    path = sop_dir.translate("ATO-RECOVERY", "es", T2_TRANSLATED)
    catalog = load_catalog(sop_dir.root)
    assert len(catalog) == 1  # the translation is not an SOP of its own
    translation = catalog.translation("ATO-RECOVERY", "es")
    assert translation is not None and translation.rel_path == "procedures/ato-recovery.es.md"
    assert path.name == "ato-recovery.es.md"
    assert _errors(sop_dir) == []
    assert "Solo Tier 2" not in translation.text_for("T1")
    assert translation.content_hash_for("T1") != translation.content_hash_for("T2")


def test_translation_of_a_missing_sop_is_an_error_at_its_line(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    path = sop_dir.translate("ATO-RECOVERY", "es", filename="no-such-sop.es.md", translation_of="NO-SUCH-SOP")
    problem = _one_error(sop_dir, "translation_of names NO-SUCH-SOP, which does not exist")
    assert problem.path.endswith("no-such-sop.es.md") and problem.line == 2
    assert str(problem).startswith(f"{problem.path}:2: error:")
    assert path.exists()


def test_translation_of_a_version_that_never_existed_is_an_error(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", "es", source_version="7.0")
    problem = _one_error(sop_dir, "ATO-RECOVERY never had that version (its versions: 1.0)")
    assert problem.line == 3


def test_a_translation_that_drops_a_tier_block_is_an_error(sop_dir):
    sop_dir.write("ATO-RECOVERY", body=T2_BODY)
    dropped = T2_TRANSLATED.split("/// tier")[0]
    sop_dir.translate("ATO-RECOVERY", "es", dropped)
    problem = _one_error(sop_dir, "drops the '/// tier | T2' block of section #steps")
    assert problem.line == 14  # the translation's heading of that section


def test_a_tier_block_moved_to_tier_1_is_an_error(sop_dir):
    sop_dir.write("ATO-RECOVERY", body=T2_BODY)
    sop_dir.translate("ATO-RECOVERY", "es", T2_TRANSLATED.replace("/// tier | T2", "/// tier | T1"))
    _one_error(sop_dir, "adds a '/// tier | T1' block in section #steps")
    _one_error(sop_dir, "drops the '/// tier | T2' block")


def test_a_translation_that_adds_a_section_is_an_error(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    body = (
        "## Propósito {#purpose}\n\nTexto.\n\n## Notas extra {#extra-notes}\n\nMás.\n\n## Pasos {#steps}\n\n1. Uno.\n"
    )
    sop_dir.translate("ATO-RECOVERY", "es", body)
    problem = _one_error(sop_dir, "adds section #extra-notes")
    assert problem.line == 14


def test_a_heading_without_the_source_anchor_is_reported_as_an_added_section(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", "es", "## Propósito\n\nTexto.\n\n## Pasos {#steps}\n\n1. Uno.\n")
    _one_error(sop_dir, "adds section #proposito")
    _one_error(sop_dir, "drops section #purpose")


@pytest.mark.parametrize("code", ["spa", "ES", "xx", "es-MX"])
def test_a_language_code_that_is_not_iso_639_1_is_an_error(sop_dir, code):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", code, filename="ato-recovery.bad.md")
    problem = _one_error(sop_dir, "is not an ISO 639-1 code")
    assert problem.line == 4


def test_the_source_language_is_not_a_translation(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", "en")
    _one_error(sop_dir, "language en is the source language")


def test_a_file_in_a_wrong_encoding_is_an_error_with_its_line(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    text = "---\ntranslation_of: ATO-RECOVERY\nsource_version: '1.0'\nlanguage: es\ntitle: Recuperación\n---\n"
    sop_dir.translate("ATO-RECOVERY", "es", raw=text.encode("latin-1"))
    problem = _one_error(sop_dir, "not valid UTF-8")
    assert problem.line == 5


def test_two_translations_of_the_same_sop_into_the_same_language_is_an_error(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", "es")
    sop_dir.translate("ATO-RECOVERY", "es", filename="ato-recovery-copia.es.md")
    problem = _one_error(sop_dir, "second es translation of ATO-RECOVERY: already translated by")
    assert problem.line == 4
    assert sum("second es translation" in p.message for p in _errors(sop_dir)) == 1


def test_a_translation_must_sit_beside_its_source_with_the_language_in_its_name(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", "es", filename="recuperacion.es.md")
    _one_error(sop_dir, "is named procedures/ato-recovery.es.md (beside its source)")


def test_missing_and_unknown_front_matter_fields_are_named(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", "es", reviewed_by=None)
    assert _errors(sop_dir)  # reviewed_by: null is not a name
    sop_dir.translate("ATO-RECOVERY", "es", translator="x")
    _one_error(sop_dir, "unknown field `translator` in a translation")


def test_links_resolve_inside_the_language_or_to_the_source(sop_dir):
    sop_dir.write("ATO-RECOVERY", related=["SIM-SWAP"])
    sop_dir.write("SIM-SWAP")
    sop_dir.write("T2-TOOLS", visibility="t2_only", audience={"tiers": ["T2"]})
    sop_dir.translate("SIM-SWAP", "es")
    sop_dir.translate("SIM-SWAP", "tl", title="SIM swap")
    body = (
        "## Propósito {#purpose}\n\n[fuente](sim-swap.md#steps) y [traducción](sim-swap.es.md#purpose).\n\n"
        "## Pasos {#steps}\n\n[tagalo](sim-swap.tl.md) [falta](passkey.es.md) [t2](t2-tools.md) [ancla](sim-swap.md#nope)\n"
    )
    sop_dir.translate("ATO-RECOVERY", "es", body)
    messages = [p.message for p in _errors(sop_dir)]
    assert any("sim-swap.tl.md leaves the language" in m for m in messages)
    assert any("passkey.es.md points to a translation that does not exist" in m for m in messages)
    assert any("link to T2-TOOLS, which is t2_only" in m for m in messages)
    assert any("SIM-SWAP has no section #nope" in m for m in messages)
    assert not any("sim-swap.md#steps" in m or "sim-swap.es.md#purpose" in m for m in messages)


def test_a_right_to_left_translation_must_not_force_left_to_right(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    body = '## غرض {#purpose}\n\n<div dir="ltr" markdown>نص</div>\n\n## خطوات {#steps}\n\n1. واحد.\n'
    sop_dir.translate("ATO-RECOVERY", "ar", body, title="استعادة")
    _one_error(sop_dir, 'dir="ltr" in a ar translation: ar is written right to left')


def test_an_older_translation_is_checked_against_that_version_in_git_history(git_sop_dir):
    repo = git_sop_dir.root.parent
    git_sop_dir.write("ATO-RECOVERY")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    new_body = "## Purpose {#purpose}\n\nNew.\n\n## Verify {#verify}\n\nTwo signals.\n\n## Steps {#steps}\n\n1. Go.\n"
    git_sop_dir.write(
        "ATO-RECOVERY",
        body=new_body,
        version="2.0",
        changelog=[
            {"version": "2.0", "date": "2026-03-01", "summary": "Two strong signals, not one."},
            {"version": "1.0", "date": "2026-01-01", "summary": "First version."},
        ],
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v2")
    git_sop_dir.translate("ATO-RECOVERY", "es")  # translates 1.0: no #verify, and that is right for 1.0
    assert _errors(git_sop_dir) == []
    rows = status_table(load_catalog(git_sop_dir.root), ["es"], date(2026, 3, 11))
    assert rows[0].state is TranslationState.STALE
    assert rows[0].days_stale == 10
    assert [c.summary for c in rows[0].missed] == ["Two strong signals, not one."]


@pytest.mark.parametrize(
    "source, translated, state",
    [
        ("3.0", "3.0", "current"),
        ("3.1", "3.0", "minor-behind"),
        ("4.0", "3.1", "stale"),
        ("4.0", None, "missing"),
        ("3.10", "3.9", "minor-behind"),
    ],
)
def test_state_of_a_translation_to_the_version(source, translated, state):
    assert state_of(source, translated).value == state


def test_status_table_covers_every_sop_and_language_and_skips_tier2_only(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.write(
        "SIM-SWAP",
        version="1.1",
        changelog=[
            {"version": "1.1", "date": "2026-02-01", "summary": "Wording."},
            {"version": "1.0", "date": "2026-01-01", "summary": "First version."},
        ],
    )
    sop_dir.write("T2-TOOLS", visibility="t2_only", audience={"tiers": ["T2"]})
    sop_dir.translate("ATO-RECOVERY", "es")
    sop_dir.translate("SIM-SWAP", "es")
    rows = {(r.sop_id, r.language): r for r in status_table(load_catalog(sop_dir.root), ["es", "tl"], date(2026, 2, 3))}
    assert set(rows) == {(s, lang) for s in ("ATO-RECOVERY", "SIM-SWAP") for lang in ("es", "tl")}
    assert rows["ATO-RECOVERY", "es"].state is TranslationState.CURRENT
    assert rows["SIM-SWAP", "es"].state is TranslationState.MINOR_BEHIND
    assert rows["SIM-SWAP", "es"].days_stale == 2
    assert rows["SIM-SWAP", "tl"].state is TranslationState.MISSING


def test_kb_translations_status_json_rows(sop_dir, monkeypatch):
    from click.testing import CliRunner

    sop_dir.write("ATO-RECOVERY")
    sop_dir.translate("ATO-RECOVERY", "es")
    monkeypatch.setenv("KB_LANGUAGES", "es,tl")
    result = CliRunner().invoke(main, ["translations", "status", "--sop-dir", str(sop_dir.root), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {(r["sop_id"], r["language"], r["state"]) for r in rows} == {
        ("ATO-RECOVERY", "es", "current"),
        ("ATO-RECOVERY", "tl", "missing"),
    }
    assert set(rows[0]) >= {"sop_id", "language", "state", "source_version", "translated_version", "days_stale"}
    only = CliRunner().invoke(main, ["translations", "status", "--sop-dir", str(sop_dir.root), "--language", "tl"])
    assert only.exit_code == 0 and "ATO-RECOVERY" in only.output and " es " not in only.output
    bad = CliRunner().invoke(main, ["translations", "status", "--sop-dir", str(sop_dir.root), "--language", "spa"])
    assert bad.exit_code == 2


@pytest.mark.parametrize(
    "front",
    [
        {"source_version": "9.0"},
        {"translation_of": "NO-SUCH-SOP"},
        {"filename": "ato-recovery.spa.md", "title": ""},
    ],
)
def test_a_bad_translation_makes_kb_publish_refuse_and_nothing_is_published(settings, runner, session, front):
    from sqlalchemy import func, select

    from fixtures.sops import SopDir
    from kb_app.models.acks import PublishedVersion

    sops = SopDir(settings.sop_dir)
    sops.write("ATO-RECOVERY")
    sops.translate("ATO-RECOVERY", "es", **front)
    runner.invoke(["db", "upgrade"])
    result = runner.invoke(["publish", "--sop-dir", str(settings.sop_dir), "--no-index"])
    assert result.exit_code == 1
    assert ".md:" in result.output and "nothing was published" in result.output
    assert session.scalar(select(func.count()).select_from(PublishedVersion)) == 0
