"""The `flychat` command: clear messages for bad configuration and unreachable stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt

from flychat.adapters.tokens import JwtVerifier
from flychat.domain.model import RoomId
from tests.support.servers import ROOT, flychat_process
from tests.support.tokens import SECRET, rsa_pair


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


def test_token_command_prints_a_token_the_app_accepts() -> None:
    result = flychat(
        "token",
        "--sub",
        "dev-1",
        "--name",
        "Dev One",
        "--read",
        "lobby",
        "--read",
        "team-*",
        "--post",
        "lobby",
        "--ttl",
        "15m",
        FLYCHAT_AUTH_SECRET=SECRET,
        FLYCHAT_AUTH_ISSUER="me",
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    caller = JwtVerifier(secret=SECRET, issuer="me").verify(token)
    assert (caller.sub, caller.name) == ("dev-1", "Dev One")
    assert caller.may("read", RoomId("team-x")) and caller.may("post", RoomId("lobby"))
    assert not caller.may("post", RoomId("team-x"))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900 and claims["iss"] == "me"


def test_token_command_needs_the_secret(tmp_path: Path) -> None:
    assert "FLYCHAT_AUTH_SECRET" in flychat("token", "--sub", "a").stderr
    _, pem = rsa_pair()
    (tmp_path / "k.pem").write_text(pem)
    only_key = flychat("token", "--sub", "a", FLYCHAT_AUTH_PUBLIC_KEY=str(tmp_path / "k.pem"))
    assert only_key.returncode == 1 and "private key" in only_key.stderr
    bad_sub = flychat("token", "--sub", " ", FLYCHAT_AUTH_SECRET="x" * 32)
    assert bad_sub.returncode == 1 and "sub" in bad_sub.stderr
    bad_ttl = flychat("token", "--sub", "a", "--ttl", "soon", FLYCHAT_AUTH_SECRET="x" * 32)
    assert bad_ttl.returncode == 2 and "duration" in bad_ttl.stderr


def test_serve_believes_forwarded_for_only_from_trusted_proxies() -> None:
    """uvicorn's own X-Forwarded-For handling is off: FLYCHAT_TRUSTED_PROXIES decides."""
    env = {"FLYCHAT_DATABASE_URL": "memory://", "FLYCHAT_POST_RATE": "1/60"}
    for trusted, expected in (("", [200, 429]), ("127.0.0.1", [200, 200])):
        with flychat_process({**env, "FLYCHAT_TRUSTED_PROXIES": trusted}) as app:
            statuses = [
                httpx.post(
                    f"{app.base_url}/rooms/rl/messages/",
                    data={"from": "a", "text": "hi"},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                    timeout=5,
                ).status_code
                for n in range(2)
            ]
        assert statuses == expected, trusted


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
