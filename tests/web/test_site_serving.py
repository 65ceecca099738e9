"""Each audience is served its own site build at /sop/, and nothing else."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest


T2_ONLY_MARKER = "T2-ONLY-MARKER-7f3a9c"  # only the T2 build of the fake sites has it


@pytest.fixture(autouse=True)
def _marker_matches_the_fake_sites(t2_only_marker):
    assert t2_only_marker == T2_ONLY_MARKER


HOSTILE_PATHS = [
    "/sop/procedures/t2-infra/",
    "/sop/procedures/t2-infra/index.html",
    "/sop/T2/index.html",
    "/sop/T2/procedures/t2-infra/index.html",
    "/sop/../T2/procedures/t2-infra/index.html",
    "/sop/procedures/../../T2/procedures/t2-infra/index.html",
    "/sop/./../T2/procedures/ato-recovery/index.html",
    "/sop/%2e%2e/T2/procedures/t2-infra/index.html",
    "/sop/%2E%2E%2FT2%2Fprocedures%2Ft2-infra%2Findex.html",
    "/sop/..%2fT2/search/search_index.json",
    "/sop/%252e%252e/T2/index.html",
    "/sop/..\\T2\\index.html",
    "/sop/..%5cT2%5cindex.html",
    "/sop//T2/index.html",
    "/sop/%00../T2/index.html",
    "/sop/procedures/ato-recovery/index.html%00.css",
    "/sop/../../../../etc/passwd",
]


def body(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "fields", "audience"),
    [
        ("agent", {"tier": "T1"}, "T1"),
        ("agent", {"tier": "T2", "vendor": "in-house"}, "T2"),
        ("partner_manager", {}, "T1"),
        ("trainer", {}, "T2"),
        ("admin", {}, "T2"),
    ],
)
def test_each_role_gets_its_audience_build(client, auth, role, fields, audience):
    auth.login_as(role, **fields)
    response = client.get("/sop/")
    assert response.status_code == 200
    assert f"Account Security SOPs ({audience})" in body(response)


def test_t1_agent_gets_404_for_t2_only_pages_and_no_t2_text_by_any_route(client, auth):
    auth.login_as("agent", tier="T1")
    for path in HOSTILE_PATHS:
        response = client.get(path, follow_redirects=True)
        assert response.status_code in (404, 400), (path, response.status_code)
        assert T2_ONLY_MARKER not in body(response), path
    recovery = client.get("/sop/procedures/ato-recovery/")
    assert recovery.status_code == 200 and "Verify ownership" in body(recovery)
    assert T2_ONLY_MARKER not in body(recovery)
    assert T2_ONLY_MARKER not in body(client.get("/sop/search/search_index.json"))


def test_t2_readers_get_the_t2_only_pages(client, auth):
    auth.login_as("agent", tier="T2", vendor="in-house")
    assert T2_ONLY_MARKER in body(client.get("/sop/procedures/t2-infra/"))


def test_partner_managers_get_the_t1_build(client, auth):
    auth.login_as("partner_manager")
    assert client.get("/sop/procedures/t2-infra/").status_code == 404


def test_directory_pages_redirect_to_the_trailing_slash(client, auth):
    auth.login_as("trainer")
    response = client.get("/sop/procedures/ato-recovery?x=1")
    assert response.status_code == 301
    assert response.headers["Location"] == "/sop/procedures/ato-recovery/?x=1"
    assert client.get("/sop").headers["Location"] == "/sop/"
    assert client.get("/sop/procedures/").status_code == 404  # a folder without an index page


def test_site_files_are_private_and_pages_carry_a_hash_based_csp(client, auth, fake_sites):
    auth.login_as("trainer")
    page = client.get("/sop/procedures/ato-recovery/")
    assert page.headers["Cache-Control"] == "private, no-cache"
    assert "Cookie" in page.headers["Vary"]
    csp = page.headers["Content-Security-Policy"]
    inline = b"__md_scope=new URL('.',location)"
    expected = "sha256-" + base64.b64encode(hashlib.sha256(inline).digest()).decode()
    assert f"'{expected}'" in csp
    assert "script-src 'self' 'sha256-" in csp and "'unsafe-inline' https://fonts" in csp
    assert "frame-ancestors 'none'" in csp
    css = client.get("/sop/assets/site.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "sha256" not in css.headers["Content-Security-Policy"]
    assert (
        client.get("/sop/procedures/ato-recovery/", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
    )


def test_json_data_blocks_and_external_scripts_are_not_hashed():
    from kb_app.web.sites import inline_script_hashes

    html = (
        b'<script id="__config" type="application/json">{"a": 1}</script>'
        b'<script src="/x.js"></script><script type="module">run()</script><SCRIPT>go()</SCRIPT>'
    )
    assert len(inline_script_hashes(html)) == 2


def test_a_symlink_out_of_the_build_is_not_followed(client, auth, fake_sites):
    os.symlink(fake_sites / "T2" / "procedures" / "t2-infra", fake_sites / "T1" / "procedures" / "sneaky")
    auth.login_as("agent", tier="T1")
    response = client.get("/sop/procedures/sneaky/index.html")
    assert response.status_code == 404 and T2_ONLY_MARKER not in body(response)


def test_the_site_needs_sign_in(client):
    response = client.get("/sop/procedures/ato-recovery/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_site_not_built_yet_says_so(make_app, make_auth, settings, tmp_path):

    app = make_app(settings.replace(site_dir=tmp_path / "nothing-here"))
    client = app.test_client()
    make_auth(client).login_as("agent")
    response = client.get("/sop/")
    assert response.status_code == 503
    assert "kb build-site" in body(response)
