"""In a real Chromium, on real MkDocs sites: a Spanish-speaking Tier 1 agent reads and
acknowledges the Spanish ATO-RECOVERY; after the source gets a major version the stale Spanish
text is not served as in force and the agent must acknowledge the new version; the trainers'
page shows the translation stale; the Tier 1 Spanish site holds no Tier 2-only text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from tests.sites.test_sites import all_text

from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Acknowledgement
from kb_app.sites import build_sites
from tests.e2e.test_acks_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEPS = "\n".join(f"{n}. Check signal number {n} against the device history." for n in range(1, 25))
PASOS = "\n".join(f"{n}. Compare la señal número {n} con el historial del dispositivo." for n in range(1, 25))
SOURCE_V1 = (
    "## Verify ownership {#verify-ownership}\n\nOne strong signal is enough.\n\n"
    f"## Steps {{#steps}}\n\n{STEPS}\n\n/// tier | T2\nTier 2 only: compare the walrus ASN list.\n///\n"
)
SOURCE_V2 = SOURCE_V1.replace("One strong signal is enough.", "Two strong signals are required now.")
SPANISH_V1 = (
    "## Verificar la titularidad {#verify-ownership}\n\nBasta con una señal fuerte.\n\n"
    f"## Pasos {{#steps}}\n\n{PASOS}\n\n/// tier | T2\nSolo Tier 2: compare la lista de ASN morsa.\n///\n"
)
HISTORY = [
    {"version": "2.0", "date": "2026-11-30", "summary": "Two strong signals are required, not one."},
    {"version": "1.0", "date": "2026-01-01", "summary": "First version."},
]


def _publish_and_build(engine, sop_dir, settings, now):
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=now, by="test")
    build_sites(sop_dir.root, settings.site_dir, ["T1"], now=now)


def test_spanish_agent_acknowledges_in_spanish_then_must_acknowledge_the_new_major(
    browser, live_server, engine, sop_dir, settings, make_user, default_password, screenshot
):
    start = datetime.now(timezone.utc) - timedelta(days=2)
    sop_dir.write("ATO-RECOVERY", body=SOURCE_V1, title="Hacked account recovery")
    sop_dir.translate("ATO-RECOVERY", "es", SPANISH_V1, title="Recuperación de cuentas hackeadas")
    _publish_and_build(engine, sop_dir, settings, start)
    agent_user = make_user("agent", language="es", vendor="apex-cx", site="bogota")
    trainer = make_user("trainer")

    for name, text in all_text(settings.site_dir / "T1.es").items():
        if not name.startswith("assets/"):
            for marker in ("Solo Tier 2", "morsa", "walrus", "tier-t2"):
                assert marker not in text, (name, marker)

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    sign_in(page, agent_user.email, default_password)

    # The roster language picks the Spanish site; the switcher is on the page.
    page.goto("/sop/procedures/ato-recovery/")
    expect(page.locator("article")).to_contain_text("Basta con una señal fuerte.")
    expect(page.locator("nav.kb-language")).to_contain_text("English")
    assert page.locator("html").get_attribute("lang") == "es"
    screenshot(page, "translations-spanish-page")

    # Read and acknowledge the Spanish text.
    page.goto("/reading-list/ATO-RECOVERY")
    expect(page.locator(".sop-text")).to_contain_text("Basta con una señal fuerte.")
    assert "Solo Tier 2" not in page.content()
    page.locator("#end-of-changes").scroll_into_view_if_needed()
    button = page.locator("#ack-button")
    expect(button).to_be_enabled()
    button.click()
    page.wait_for_load_state()
    assert "Acknowledged ATO-RECOVERY v1.0" in page.content()
    with session_scope(engine) as session:
        ack = session.scalars(select(Acknowledgement)).one()
        assert (ack.language, ack.major, ack.translation_id is not None) == ("es", 1, True)

    # The source gets a major version; the Spanish translation still translates 1.0.
    sop_dir.write("ATO-RECOVERY", body=SOURCE_V2, version="2.0", changelog=HISTORY, title="Hacked account recovery")
    _publish_and_build(engine, sop_dir, settings, start + timedelta(days=1))

    page.goto("/sop/procedures/ato-recovery/")
    article = page.locator("article")
    expect(article).to_contain_text("Two strong signals are required now.")
    expect(article).not_to_contain_text("Basta con una señal fuerte.")
    note = page.locator("[data-kb-translation-state='stale']")
    expect(note).to_contain_text("desactualizada")
    expect(note).to_contain_text("Two strong signals are required, not one.")
    screenshot(page, "translations-stale-page")

    page.goto("/reading-list")
    page.get_by_role("link", name="Read", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("#translation-note")).to_have_attribute("data-translation-state", "stale")
    assert "Basta con una señal fuerte." not in page.content()
    page.locator("#end-of-changes").scroll_into_view_if_needed()
    expect(page.locator("#ack-button")).to_be_enabled()
    page.locator("#ack-button").click()
    page.wait_for_load_state()
    assert "Acknowledged ATO-RECOVERY v2.0" in page.content()
    with session_scope(engine) as session:
        latest = session.scalars(select(Acknowledgement).order_by(Acknowledgement.id.desc())).first()
        assert (latest.language, latest.major) == ("en", 2)
    context.close()

    # The trainers' page shows the Spanish translation stale, with the change it misses.
    trainer_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    trainer_page = trainer_context.new_page()
    sign_in(trainer_page, trainer.email, default_password)
    trainer_page.goto("/translations?language=es")
    row = trainer_page.locator("#translation-status tr[data-sop='ATO-RECOVERY'][data-language='es']")
    expect(row).to_have_attribute("data-state", "stale")
    expect(row).to_contain_text("Two strong signals are required, not one.")
    screenshot(trainer_page, "translations-status-page")
    trainer_context.close()
