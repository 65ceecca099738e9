"""Quiz bank translations: file checks (path:line), the staleness rule per covered SOP, and the
taker's view in their language only while the translation is current."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import yaml

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.catalog.staleness import TranslationState
from kb_app.quizzes import attempts
from kb_app.quizzes.translations import load_translations, translation_state
from kb_app.services.quizzing import taker_in_language
from tests.quizzes.factories import make_bank

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def _texts(bank) -> dict:
    out = {}
    for q in bank.questions:
        item = {"stem": f"ES {q.stem}", "explanation": f"ES {q.explanation}"}
        if hasattr(q, "options"):
            item["options"] = {o.id: f"ES {o.text}" for o in q.options}
        if getattr(q, "items", None):
            item["items"] = [f"ES {i}" for i in q.items]
        out[q.id] = item
    return out


def write_translation(quiz_dir, bank, language="es", **overrides):
    folder = quiz_dir / "translations"
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "translation_of": bank.id,
        "language": language,
        "sop_versions": {"ATO-RECOVERY": "1.0"},
        "translated_by": "Equipo Bogotá",
        "reviewed_by": "Revisión",
        "title": "Certificación (ES)",
        "questions": _texts(bank),
        **overrides,
    }
    path = folder / f"{bank.id}.{language}.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_a_complete_translation_of_the_current_version_is_current(tmp_path):
    bank = make_bank("cert-t1")
    write_translation(tmp_path, bank)
    loaded = load_translations(tmp_path, {bank.id: bank}, {"ATO-RECOVERY": {"1.0"}})
    assert loaded.problems == []
    translation = loaded.get("cert-t1", "es")
    assert translation_state(translation, bank, {"ATO-RECOVERY": "1.0"}) is TranslationState.CURRENT
    assert translation_state(translation, bank, {"ATO-RECOVERY": "1.1"}) is TranslationState.MINOR_BEHIND
    assert translation_state(translation, bank, {"ATO-RECOVERY": "2.0"}) is TranslationState.STALE
    assert translation_state(None, bank, {"ATO-RECOVERY": "1.0"}) is TranslationState.MISSING


def test_an_untranslated_question_makes_the_translation_stale(tmp_path):
    bank = make_bank("cert-t1")
    texts = _texts(bank)
    texts.pop(bank.questions[0].id)
    write_translation(tmp_path, bank, questions=texts)
    translation = load_translations(tmp_path, {bank.id: bank}).get("cert-t1", "es")
    assert translation_state(translation, bank, {"ATO-RECOVERY": "1.0"}) is TranslationState.STALE


def test_bad_bank_translations_are_path_line_errors(tmp_path):
    bank = make_bank("cert-t1")
    texts = _texts(bank)
    texts["no-such-question"] = {"stem": "x", "explanation": "y"}
    first = bank.questions[0]
    texts[first.id] = {**texts[first.id], "options": {"zz": "?"}}
    path = write_translation(tmp_path, bank, questions=texts, sop_versions={"ATO-RECOVERY": "9.0"})
    write_translation(tmp_path, make_bank("other"), language="spa")
    problems = load_translations(tmp_path, {bank.id: bank}, {"ATO-RECOVERY": {"1.0"}}).problems
    messages = {p.message for p in problems}
    assert "bank cert-t1 has no question `no-such-question`" in messages
    assert "ATO-RECOVERY never had version 9.0" in messages
    assert any("options must translate exactly the option ids" in m for m in messages)
    assert any("translation_of names bank other, which does not exist" in m for m in messages)
    assert any("'spa' is not an ISO 639-1 code" in m for m in messages)
    assert all(p.line > 1 for p in problems if p.path == str(path))


def test_an_agent_takes_the_quiz_in_their_language_only_while_it_is_current(session, make_user, sop_dir, tmp_path):
    sop_dir.write("ATO-RECOVERY")
    publish(session, load_catalog(sop_dir.root), now=NOW - timedelta(days=1), by="test")
    session.commit()
    bank = make_bank("cert-t1")
    write_translation(tmp_path, bank)
    user = make_user("agent", language="es")
    attempt = attempts.start_attempt(session, user, bank, now=NOW).attempt
    view = taker_in_language(session, attempt, now=NOW, quiz_dir=tmp_path, language="es")
    assert view["language"] == "es" and view["bank"]["title"] == "Certificación (ES)"
    assert all(q["stem"].startswith("ES ") for q in view["questions"])
    english = attempts.taker(session, attempt, now=NOW)
    assert [q["key"] for q in view["questions"]] == [q["key"] for q in english["questions"]]
    for ours, theirs in zip(view["questions"], english["questions"]):
        for a, b in zip(ours.get("options", []), theirs.get("options", [])):
            assert a["id"] == b["id"] and a["text"] == f"ES {b['text']}"
        assert "explanation" not in ours and "correct" not in str(ours.get("options", ""))

    sop_dir.write(
        "ATO-RECOVERY",
        version="2.0",
        changelog=[
            {"version": "2.0", "date": "2026-11-19", "summary": "Two signals."},
            {"version": "1.0", "date": "2026-01-01", "summary": "First."},
        ],
    )
    publish(session, load_catalog(sop_dir.root), now=NOW, by="test")
    session.commit()
    stale = taker_in_language(session, attempt, now=NOW, quiz_dir=tmp_path, language="es")
    assert stale["language"] == "en" and not stale["questions"][0]["stem"].startswith("ES ")
