"""schemathesis against the running app's own document: every answer is the one documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import flychat_process
from tests.support.sql import migrated_sqlite

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def schemathesis(base_url: str, seconds: int, folder: Path) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` for ``seconds`` against the app's document, caches in ``folder``."""
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/schema/openapi.json",
        "--checks",
        CHECKS,
        "--max-time",
        str(seconds),
        "--request-timeout",
        "5",
    ]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=seconds + 120
    )


AUTH_SECRET = "schemathesis-only-secret-" + "x" * 32


@pytest.mark.slow
@pytest.mark.parametrize(
    ("store", "seconds"), [("memory", 25), ("sqlite", 15), ("memory-auth", 12)]
)
def test_schemathesis_finds_nothing(store: str, seconds: int, tmp_path: Path) -> None:
    """Open mode on two stores; then auth on with no token sent (the room routes answer 401)."""
    url = "memory://" if store != "sqlite" else migrated_sqlite(tmp_path / "schemathesis.db")
    env = {"FLYCHAT_DATABASE_URL": url}
    if store == "memory-auth":
        env["FLYCHAT_AUTH_SECRET"] = AUTH_SECRET
    with flychat_process(env) as app:
        result = schemathesis(app.base_url, seconds, tmp_path)
        log = app.stderr_text()
    report = f"{result.stdout}\n{result.stderr}\n--- app stderr ---\n{log[-4000:]}"
    assert result.returncode == 0, report
    counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert counts is not None and int(counts[1]) == int(counts[2]) > 0, report
