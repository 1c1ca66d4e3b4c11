"""The package as a user gets it: a wheel installed into a fresh venv, run from an empty folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ROOT, free_port, stop_process, wait_healthy
from tests.support.sql import postgres_database

pytestmark = pytest.mark.slow

PACKAGE = ROOT / "src" / "flychat"
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "*.db*",
    "bench",
    "test-artifacts",
)
SHIPPED = [
    "flychat/py.typed",
    "flychat/entrypoints/templates/chat.html",
    "flychat/entrypoints/static/chat.js",
    "flychat/adapters/sql/migrations/env.py",
    "flychat/adapters/sql/migrations/versions/0001_initial_schema.py",
]


@dataclass(frozen=True)
class Installed:
    """A fresh venv with only the wheel (and its dependencies) installed."""

    bin: Path
    wheel: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no FLYCHAT_*/GRIP_* settings, no PYTHONPATH into the checkout."""
        kept = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FLYCHAT_", "GRIP_", "PYTHON", "VIRTUAL_ENV"))
        }
        return {**kept, "PATH": f"{self.bin}{os.pathsep}{kept.get('PATH', '')}", **extra}


def run(args: list[str | Path], timeout: float, **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kw,  # type: ignore[call-overload]
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def package_files() -> set[str]:
    """Every file of the source package, as a path inside the wheel."""
    return {
        f"flychat/{path.relative_to(PACKAGE).as_posix()}"
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "checkout"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    dist = folder / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source], 300)
    (wheel,) = dist.glob("flychat-*.whl")
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", venv], 120)
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], 600)
    return Installed(venv / "bin", wheel)


@pytest.fixture
def empty_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_the_wheel_ships_the_whole_package_and_nothing_else(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = {n for n in wheel.namelist() if n.startswith("flychat/")}
    assert set(SHIPPED) <= names
    assert names == package_files()


def test_the_venv_imports_flychat_from_the_wheel(installed: Installed, empty_folder: Path) -> None:
    where = run(
        [installed.bin / "python", "-c", "import flychat; print(flychat.__file__)"],
        60,
        cwd=empty_folder,
        env=installed.env(),
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.bin.parent)


def migrate_serve_and_chat(installed: Installed, folder: Path, env: Mapping[str, str]) -> None:
    """``flychat migrate`` then ``flychat serve`` from ``folder``; a message goes in and back."""
    migrated = run([installed.bin / "flychat", "migrate"], 120, cwd=folder, env=env)
    assert "up to date" in migrated.stdout
    port = free_port()
    log_path = folder.parent / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [installed.bin / "flychat", "serve", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(base, 60, server)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}:\n{log_path.read_text()}") from exc
        with httpx.Client(base_url=base, timeout=10) as http:
            posted = http.post("/rooms/lobby/messages/", data={"from": "ann", "text": "shipped"})
            assert posted.status_code == 200, posted.text
            history = http.get("/rooms/lobby/messages/")
            assert history.status_code == 200
            assert [(m["from"], m["text"]) for m in history.json()["messages"]] == [
                ("ann", "shipped")
            ]
            page = http.get("/lobby", params={"user": "bob"})
            assert page.status_code == 200 and "shipped" in page.text
            assert http.get("/static/flychat-events.js").status_code == 200
            assert http.get("/readyz").status_code == 200
    finally:
        stop_process(server)


def test_migrate_and_serve_on_sqlite_from_an_empty_folder(
    installed: Installed, empty_folder: Path
) -> None:
    migrate_serve_and_chat(installed, empty_folder, installed.env())
    assert (empty_folder / "flychat.db").is_file()


@pytest.mark.postgres
def test_migrate_and_serve_on_postgresql_from_an_empty_folder(
    installed: Installed, empty_folder: Path
) -> None:
    with postgres_database(migrate=False) as url:
        env = installed.env(FLYCHAT_DATABASE_URL=url)
        migrate_serve_and_chat(installed, empty_folder, env)
    assert not (empty_folder / "flychat.db").exists()
