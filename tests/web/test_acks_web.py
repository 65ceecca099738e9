"""Reading list, acknowledgement, banner and coverage pages and API, with hostile users."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook

from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.acks.publishing import publish


def csrf_token_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


@pytest.fixture
def published(engine, settings, sop_dir):
    """Two SOPs published a day ago: one for everyone (with a T2 block), one T2-only."""
    sop_dir.write(
        "ATO-RECOVERY", body="## Verify {#verify}\n\nTwo signals.\n\n/// tier | T2\nCheck the ASN list.\n///\n"
    )
    sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})

    def run(now=None):
        with session_scope(engine) as session:
            publish(
                session,
                load_catalog(sop_dir.root),
                now=now or datetime.now(timezone.utc) - timedelta(days=1),
                by="test",
            )

    return run


def read_page(client, sop_id="ATO-RECOVERY"):
    response = client.get(f"/reading-list/{sop_id}")
    assert response.status_code == 200, response.status_code
    html = response.get_data(as_text=True)
    return html, csrf_token_from(html)


def content_hash_in(html: str) -> str:
    marker = 'name="content_hash" value="'
    start = html.index(marker) + len(marker)
    return html[start : start + 64]


class TestReadingAndAcknowledging:
    def test_agent_reads_and_acknowledges(self, client, auth, published, make_agent):
        auth.login_as("agent")
        published()
        listing = client.get("/reading-list").get_data(as_text=True)
        assert "ATO-RECOVERY" in listing and "T2-INFRA" not in listing
        html, token = read_page(client)
        assert "Two signals" in html and "ASN list" not in html  # T1 reads the T1 text
        assert 'data-gate="#end-of-changes"' in html
        response = client.post(
            "/reading-list/ATO-RECOVERY/acknowledge",
            data={"csrf_token": token, "content_hash": content_hash_in(html), "version": "1.0"},
        )
        assert response.status_code == 302
        follow = client.get("/reading-list").get_data(as_text=True)
        assert "Acknowledged ATO-RECOVERY v1.0" in follow and "nothing to acknowledge" in follow

    def test_form_without_csrf_is_refused(self, client, auth, published):
        auth.login_as("agent")
        published()
        html, _ = read_page(client)
        response = client.post("/reading-list/ATO-RECOVERY/acknowledge", data={"content_hash": content_hash_in(html)})
        assert response.status_code == 400

    def test_forged_hash_is_refused_with_a_message(self, client, auth, published):
        auth.login_as("agent")
        published()
        _, token = read_page(client)
        response = client.post(
            "/reading-list/ATO-RECOVERY/acknowledge",
            data={"csrf_token": token, "content_hash": "f" * 64},
            follow_redirects=True,
        )
        assert "not the current text" in response.get_data(as_text=True)

    def test_tier1_agent_gets_404_for_t2_only(self, client, auth, published):
        auth.login_as("agent")
        published()
        assert client.get("/reading-list/T2-INFRA").status_code == 404

    def test_tier2_agent_reads_the_tier2_text(self, client, auth, published, make_agent):
        auth.login_as("agent", employee_id=make_agent(tier="T2", vendor="in-house").employee_id)
        published()
        html, _ = read_page(client)
        assert "ASN list" in html

    def test_other_roles_have_no_reading_list(self, client, auth, published):
        auth.login_as("trainer")
        assert client.get("/reading-list").status_code == 403


class TestApi:
    def test_acknowledge_through_the_api_is_idempotent(self, client, app, published, make_user, make_token):
        user = make_user("agent")
        published()
        headers = {"Authorization": f"Bearer {make_token(user)}"}
        changes = client.get("/api/v1/sops/ATO-RECOVERY/changes", headers=headers).get_json()
        assert changes["previous_version"] is None and "Two signals" in changes["text"]
        body = {"sop_id": "ATO-RECOVERY", "version": "1.0", "content_hash": changes["content_hash"]}
        first = client.post("/api/v1/acknowledgements", json=body, headers=headers)
        second = client.post("/api/v1/acknowledgements", json=body, headers=headers)
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.get_json()["acknowledged_at"] == second.get_json()["acknowledged_at"]
        assert client.get("/api/v1/reading-list", headers=headers).get_json()["items"] == []

    @pytest.mark.parametrize(
        "body, status, code",
        [
            ({"sop_id": "ATO-RECOVERY", "content_hash": "0" * 64}, 409, "hash_mismatch"),
            ({"sop_id": "ATO-RECOVERY", "content_hash": "x", "version": "0.9"}, 409, "superseded"),
            ({"sop_id": "T2-INFRA", "content_hash": "x"}, 404, "not_found"),
            ({"sop_id": "NOPE", "content_hash": "x"}, 404, "not_found"),
            ({"sop_id": 5, "content_hash": "x"}, 400, "bad_request"),
            (["not", "an", "object"], 400, "bad_request"),
        ],
    )
    def test_refusals(self, client, published, make_user, make_token, body, status, code):
        user = make_user("agent")
        published()
        response = client.post(
            "/api/v1/acknowledgements", json=body, headers={"Authorization": f"Bearer {make_token(user)}"}
        )
        assert response.status_code == status
        assert response.get_json()["error"]["code"] == code

    def test_malformed_json_is_a_json_400(self, client, published, make_user, make_token):
        user = make_user("agent")
        response = client.post(
            "/api/v1/acknowledgements",
            data="{oops",
            content_type="application/json",
            headers={"Authorization": f"Bearer {make_token(user)}"},
        )
        assert response.status_code == 400 and "error" in response.get_json()

    def test_banner_for_an_sop_page(self, client, auth, published):
        auth.login_as("agent")
        published()
        banner = client.get("/api/v1/me/banner?path=/sop/procedures/ato-recovery/").get_json()
        assert banner["page"]["state"] == "action_required" and banner["page"]["version"] == "1.0"
        assert client.get("/api/v1/me/banner?path=/sop/procedures/t2-infra/").get_json()["page"] is None

    def test_trainer_cannot_acknowledge(self, client, published, make_user, make_token):
        user = make_user("trainer")
        response = client.post(
            "/api/v1/acknowledgements",
            json={"sop_id": "ATO-RECOVERY", "content_hash": "x"},
            headers={"Authorization": f"Bearer {make_token(user)}"},
        )
        assert response.status_code == 403


class TestCoverage:
    @pytest.fixture
    def two_vendors(self, make_agent, published):
        for vendor, site in (
            ("northwind-bpo", "manila"),
            ("northwind-bpo", "cebu"),
            ("apex-cx", "bogota"),
            ("apex-cx", "bogota"),
        ):
            make_agent(vendor=vendor, site=site, name=f"<script>alert('{vendor}')</script>")
        published()

    def test_trainer_sees_every_vendor(self, client, auth, two_vendors):
        auth.login_as("trainer")
        html = client.get("/coverage").get_data(as_text=True)
        assert "apex-cx" in html and "northwind-bpo" in html and "ATO-RECOVERY" in html

    def test_partner_manager_sees_only_their_vendor(self, client, auth, two_vendors):
        auth.login_as("partner_manager", vendor="apex-cx")
        html = client.get("/coverage?by=vendor,site").get_data(as_text=True)
        assert "apex-cx" in html and "northwind-bpo" not in html
        assert client.get("/coverage?vendor=northwind-bpo").status_code == 403
        assert client.get("/coverage.csv?vendor=northwind-bpo").status_code == 403
        assert client.get("/coverage/overdue?vendor=northwind-bpo").status_code == 403

    def test_partner_manager_exports_hold_only_their_vendor(self, client, auth, two_vendors):
        auth.login_as("partner_manager", vendor="apex-cx")
        rows = list(csv.DictReader(io.StringIO(client.get("/coverage.csv").get_data(as_text=True))))
        assert rows and {r["vendor"] for r in rows} == {"apex-cx"}
        assert sum(int(r["population"]) for r in rows if r["sop_id"] == "ATO-RECOVERY") == 2
        workbook = load_workbook(io.BytesIO(client.get("/coverage.xlsx").data))
        sheet = workbook.active
        header = [c.value for c in sheet[1]]
        vendors = {row[header.index("vendor")] for row in sheet.iter_rows(min_row=2, values_only=True)}
        assert vendors == {"apex-cx"}

    def test_partner_manager_api_is_scoped(self, client, two_vendors, make_user, make_token):
        manager = make_user("partner_manager", vendor="apex-cx")
        headers = {"Authorization": f"Bearer {make_token(manager)}"}
        rows = client.get("/api/v1/coverage?by=vendor", headers=headers).get_json()["rows"]
        assert [r["vendor"] for r in rows] == ["apex-cx"]
        assert client.get("/api/v1/coverage?vendor=northwind-bpo", headers=headers).status_code == 403

    def test_agents_cannot_see_coverage(self, client, auth, two_vendors):
        auth.login_as("agent")
        assert client.get("/coverage").status_code == 403
        assert client.get("/coverage.csv").status_code == 403

    def test_roster_names_are_escaped_on_overdue_list(self, client, auth, make_agent, engine, sop_dir):
        make_agent(name="<script>alert(1)</script>")
        with session_scope(engine) as session:
            sop_dir.write("ATO-RECOVERY")
            publish(session, load_catalog(sop_dir.root), now=datetime.now(timezone.utc) - timedelta(days=30), by="test")
        auth.login_as("trainer")
        html = client.get("/coverage/overdue").get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    def test_requirement_page_with_timeline(self, client, auth, two_vendors, engine):
        auth.login_as("trainer")
        from sqlalchemy import select

        from kb_app.models import Requirement

        with session_scope(engine) as session:
            requirement_id = session.scalars(select(Requirement.id).where(Requirement.sop_id == "ATO-RECOVERY")).one()
        html = client.get(f"/coverage/requirements/{requirement_id}").get_data(as_text=True)
        assert "Acknowledgements since publish" in html and "<polyline" in html

    def test_publish_preview_page(self, client, auth, sop_dir):
        sop_dir.write("ATO-RECOVERY")
        auth.login_as("trainer")
        html = client.get("/publish").get_data(as_text=True)
        assert "ATO-RECOVERY" in html and "new" in html
        response = client.post("/publish", data={"csrf_token": csrf_token_from(html)}, follow_redirects=True)
        assert "Published 1 versions" in response.get_data(as_text=True)


def test_agent_home_counts_updates_to_acknowledge(client, auth, published):
    auth.login_as("agent")
    published(now=datetime.now(timezone.utc) - timedelta(days=10))
    html = client.get("/").get_data(as_text=True)
    assert "SOP update to acknowledge" in html and "1 overdue" in html
