"""Schemathesis against the live app, with a token per role: no 5xx, and every answer matches
the generated OpenAPI document (status, content type, schema), for valid and invalid input.

Bounded: a fixed seed and a few dozen cases per operation and role (about half a minute per
role on an idle laptop); `KB_SCHEMATHESIS_EXAMPLES` raises it for a deeper local run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.live import LiveApp

pytestmark = pytest.mark.slow

ROLES = ("agent_t1", "partner_manager", "admin")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
MAX_EXAMPLES = int(os.environ.get("KB_SCHEMATHESIS_EXAMPLES", "25"))
TIMEOUT_PER_ROLE = 600  # a hung run fails instead of holding CI


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    app = LiveApp(tmp_path_factory.mktemp("schemathesis")).prepare()
    app.serve("--threads", "4")
    yield app
    app.stop()


def _schemathesis() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is a test dependency (pip install -e '.[test]')"
    return [found]


@pytest.mark.parametrize("role", ROLES)
def test_the_live_api_keeps_its_contract(live, role, tmp_path):
    command = [
        *_schemathesis(),
        "run",
        f"{live.base_url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {live.tokens[role]}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "16",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--phases",
        "examples,coverage,fuzzing",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_PER_ROLE, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:] + "\n--- server log ---\n" + live.log()[-3000:]
    assert "passed" in output.split("Test cases:")[-1], output[-3000:]
