"""Web: the roster language picks the site, the switcher remembers a pick, the trainers'
translations page (and CSV), and the read page acknowledging in the language read."""

from __future__ import annotations

from datetime import datetime, timezone

from fixtures.sops import SopDir
from tests.catalog.test_translations import T2_BODY, T2_TRANSLATED

from kb_app.acks.publishing import publish
from tests.conftest import csrf_token_from
from tests.web.test_acks_web import content_hash_in
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Acknowledgement

NOW = datetime.now(timezone.utc)


def _spanish_site(fake_sites):
    page = fake_sites / "T1.es" / "procedures" / "ato-recovery" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body><p>Verifique la titularidad.</p></body></html>", encoding="utf-8")
    (fake_sites / "T1.es" / "index.html").write_text("<html><body>Inicio</body></html>", encoding="utf-8")


def test_the_roster_language_picks_the_site_and_the_switcher_remembers_a_pick(client, auth, fake_sites):
    _spanish_site(fake_sites)
    auth.login_as("agent", language="es")
    assert "Verifique la titularidad." in client.get("/sop/procedures/ato-recovery/").get_data(as_text=True)
    switched = client.get("/sop/procedures/ato-recovery/?kb_lang=en")
    assert switched.status_code == 303 and switched.headers["Location"].endswith("/sop/procedures/ato-recovery/")
    assert "Verify ownership." in client.get("/sop/procedures/ato-recovery/").get_data(as_text=True)
    client.get("/sop/?kb_lang=es")
    assert "Verifique" in client.get("/sop/procedures/ato-recovery/").get_data(as_text=True)


def test_a_language_without_a_site_falls_back_to_the_source_site(client, auth, fake_sites):
    _spanish_site(fake_sites)
    auth.login_as("agent", language="pl")
    assert "Verify ownership." in client.get("/sop/procedures/ato-recovery/").get_data(as_text=True)
    client.get("/sop/?kb_lang=zz-not-a-code")
    assert "Verify ownership." in client.get("/sop/procedures/ato-recovery/").get_data(as_text=True)


def _corpus(settings):
    sops = SopDir(settings.sop_dir)
    sops.write("ATO-RECOVERY", body=T2_BODY)
    sops.translate("ATO-RECOVERY", "es", T2_TRANSLATED, title="Recuperación de cuentas")
    sops.write("SIM-SWAP")
    return sops


def test_translations_page_shows_states_and_exports_csv(client, auth, settings, engine):
    _corpus(settings)
    with session_scope(engine) as session:
        publish(session, load_catalog(settings.sop_dir), now=NOW, by="test")
    auth.login_as("trainer")
    html = client.get("/translations").get_data(as_text=True)
    assert 'data-sop="ATO-RECOVERY" data-language="es" data-state="current"' in html
    assert 'data-sop="SIM-SWAP" data-language="tl" data-state="missing"' in html
    only = client.get("/translations?language=es").get_data(as_text=True)
    assert 'data-language="tl"' not in only.split('id="translation-status"')[1].split("</table>")[0]
    csv = client.get("/translations.csv?language=es")
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("sop_id,title,language,state") and any(
        "ATO-RECOVERY" in line and ",current," in line for line in lines
    )
    assert client.get("/translations?language=spa").status_code == 400


def test_agents_cannot_open_the_translations_page(client, auth):
    auth.login_as("agent")
    assert client.get("/translations").status_code == 403


def test_a_spanish_agent_acknowledges_the_spanish_text_on_the_read_page(client, auth, settings, engine):
    _corpus(settings)
    with session_scope(engine) as session:
        publish(session, load_catalog(settings.sop_dir), now=NOW, by="test")
    auth.login_as("agent", language="es")
    page = client.get("/reading-list/ATO-RECOVERY").get_data(as_text=True)
    assert "Proteja la cuenta." in page and 'name="language" value="es"' in page and "Solo Tier 2" not in page
    form = {
        "csrf_token": csrf_token_from(page),
        "content_hash": content_hash_in(page),
        "version": "1.0",
        "language": "es",
    }
    response = client.post("/reading-list/ATO-RECOVERY/acknowledge", data=form)
    assert response.status_code == 302
    with session_scope(engine) as session:
        ack = session.query(Acknowledgement).one()
        assert ack.language == "es" and ack.translation_id is not None
