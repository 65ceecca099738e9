"""The Readiness page and API, and what the read-only `lead` role may and may not do."""

from __future__ import annotations

import pytest

from fixtures.crisis import T2_BULLETIN_TITLE, build_floor


def check_api(response, status: int) -> dict:
    """The status and the JSON body (the contract fixture checks the body against the OpenAPI)."""
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def floor(engine, settings, sop_dir, make_user):
    return build_floor(engine, settings, sop_dir, make_user)


def test_the_lead_sees_every_vendor_and_the_bulletin_projection(client, auth, floor):
    auth.login_as("lead")
    page = client.get("/readiness")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for vendor in ("northwind-bpo", "apex-cx", "in-house"):
        assert vendor in html
    assert "Bulletin BUL-WAVE v1.0" in html
    assert "no acknowledgements in the last 60 minutes, cannot project" in html  # northwind
    assert "no acknowledgements yet, cannot project" in html  # in-house
    assert "after the deadline" in html  # overall: 3 left at 1 an hour, 2.5 hours to go
    assert T2_BULLETIN_TITLE in html  # staff read Tier 2 material names
    api = client.get("/api/v1/readiness?by=vendor")
    body = check_api(api, 200)
    assert body["total"]["headcount"] == 6 and body["total"]["ready"] == 2
    rows = {r["vendor"]: r for r in body["rows"]}
    assert rows["northwind-bpo"]["not_acknowledged"] == 1 and rows["northwind-bpo"]["not_certified"] == 1
    wave = next(b for b in body["bulletins"] if b["sop_id"] == "BUL-WAVE")
    assert wave["overall"]["state"] == "late"
    assert {p["vendor"]: p["state"] for p in wave["by_vendor"]} == {
        "apex-cx": "on_track",
        "in-house": "cannot_project",
        "northwind-bpo": "cannot_project",
    }


def test_a_partner_manager_sees_only_their_vendor(client, auth, floor):
    auth.login_as("partner_manager", vendor="apex-cx")
    html = client.get("/readiness").get_data(as_text=True)
    assert "apex-cx" in html and "northwind-bpo" not in html and "in-house" not in html
    assert T2_BULLETIN_TITLE not in html and "cert-t2" not in html and "Investigator certification" not in html
    assert client.get("/readiness?vendor=northwind-bpo").status_code == 403
    assert client.get("/readiness?vendor=apex-cx").status_code == 200
    body = check_api(client.get("/api/v1/readiness?by=vendor,site"), 200)
    assert body["vendor"] == "apex-cx" and [r["vendor"] for r in body["rows"]] == ["apex-cx"]
    assert [b["sop_id"] for b in body["bulletins"]] == ["BUL-WAVE"]
    assert [p["vendor"] for p in body["bulletins"][0]["by_vendor"]] == ["apex-cx"]
    assert set(body["certification_banks"]) == {"T1"}
    check_api(client.get("/api/v1/readiness?vendor=northwind-bpo"), 403)


def test_agents_may_not_see_readiness(client, auth, floor):
    auth.login_as("agent")
    assert client.get("/readiness").status_code == 403
    check_api(client.get("/api/v1/readiness"), 403)


def test_a_bad_grouping_is_a_400_naming_the_field(client, auth, floor):
    auth.login_as("lead")
    body = check_api(client.get("/api/v1/readiness?by=vendor,shift"), 400)
    assert any(p.get("field") == "by" or "by" in str(p) for p in body["error"].get("problems", [body["error"]]))


def test_user_text_is_escaped(client, auth, engine, settings, sop_dir, make_user):
    build_floor(engine, settings, sop_dir, make_user)
    make_user("agent", vendor="apex-cx", site="<script>alert(1)</script>", team="<b>x</b>")
    auth.login_as("trainer")
    html = client.get("/readiness").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


class TestTheLeadRole:
    """Read-only across every vendor: reports yes; publishing, roster changes, user admin no."""

    def test_reads_every_report(self, client, auth, floor):
        auth.login_as("lead")
        for url in (
            "/readiness",
            "/coverage",
            "/coverage/overdue",
            "/quizzes/banks",
            "/quizzes/certifications",
            "/quizzes/remediation",
            "/search/analytics",
            "/translations",
        ):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        html = client.get("/").get_data(as_text=True)
        assert 'href="/readiness"' in html and 'href="/publish"' not in html and 'href="/admin/users"' not in html

    def test_changes_nothing(self, client, auth, floor, make_token):
        lead = auth.login_as("lead")
        assert client.get("/publish").status_code == 403
        assert client.post("/publish", data={"csrf_token": auth.csrf_token()}).status_code == 403
        assert client.get("/roster").status_code == 403
        assert client.get("/admin/users").status_code == 403
        assert client.get("/admin/audit").status_code == 403
        token = make_token(lead)
        headers = {"Authorization": f"Bearer {token}"}
        check_api(client.post("/api/v1/roster/import", json={"agents": [], "dry_run": True}, headers=headers), 403)
        check_api(client.get("/api/v1/reading-list", headers=headers), 403)
        assert client.get("/api/v1/readiness", headers=headers).status_code == 200

    def test_is_created_from_the_command_line(self, runner):
        result = runner.invoke(["user", "create", "--role", "lead", "--email", "lob.lead@example.com", "--no-password"])
        assert result.exit_code == 0, result.output
        assert "created lead lob.lead@example.com" in result.output
        refused = runner.invoke(
            ["user", "create", "--role", "lead", "--email", "x@example.com", "--vendor", "apex-cx", "--no-password"]
        )
        assert refused.exit_code == 1 and "only a partner manager has a vendor" in refused.output
