"""The `flychat` command: clear messages for bad configuration and unreachable stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import ROOT


def flychat(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flychat.entrypoints.cli", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bad_setting_stops_start_up_naming_the_variable() -> None:
    result = flychat("serve", FLYCHAT_PORT="eighty")
    assert result.returncode == 2
    assert "FLYCHAT_PORT" in result.stderr and "Traceback" not in result.stderr


def test_migrate_is_idempotent_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for _ in range(2):
        result = flychat("migrate", FLYCHAT_DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout
    assert (tmp_path / "cli.db").exists()


def test_unreachable_store_is_one_clear_line() -> None:
    result = flychat("migrate", FLYCHAT_DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "unavailable" in result.stderr and "Traceback" not in result.stderr


def test_migrate_needs_nothing_from_the_working_folder(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "FLYCHAT_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "flychat.entrypoints.cli", "migrate"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "flychat.db").is_file()
