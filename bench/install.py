"""flychat as a user installs it: a non-editable ``pip install .`` into a bench venv.

The harness measures this install, not the editable development one: the wheel
pip builds from the worktree, with the dependencies ``pyproject.toml`` declares
(so the server stack is whatever a plain ``pip install flychat`` gives). The venv
lives in ``bench/.venv-installed`` and is reused: the dependencies are installed
again only when ``pyproject.toml`` changes, flychat itself (``--no-deps``) whenever
a file under ``src/`` changes.

    python -m bench.install          # create or refresh it, print its python
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

from bench.procs import ROOT

VENV = ROOT / "bench" / ".venv-installed"
STAMP = VENV / ".flychat-stamp"


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _stamps() -> tuple[str, str]:
    deps = _digest([ROOT / "pyproject.toml"])
    sources = [
        p
        for p in (ROOT / "src").rglob("*")
        if p.is_file() and not any(x == "__pycache__" or x.endswith(".egg-info") for x in p.parts)
    ]
    return deps, _digest(sources)


def bin_path(name: str) -> Path:
    """An executable of the bench venv."""
    return VENV / "bin" / name


def _pip(*args: str) -> None:
    command = [str(bin_path("python")), "-m", "pip", "install", "-q", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def ensure_installed() -> Path:
    """The bench venv's python, with the worktree's flychat installed non-editable."""
    deps, sources = _stamps()
    old = STAMP.read_text().split() if STAMP.exists() else []
    if not bin_path("python").exists():
        venv.create(VENV, with_pip=True)
        old = []
    if old == [deps, sources]:
        return bin_path("python")
    print("bench: installing flychat into bench/.venv-installed (pip install .)", flush=True)
    STAMP.unlink(missing_ok=True)
    if not old or old[0] != deps:
        _pip(str(ROOT))
    _pip("--no-deps", "--force-reinstall", str(ROOT))
    _check_installed()
    STAMP.write_text(f"{deps} {sources}\n")
    return bin_path("python")


def _check_installed() -> None:
    probe = "import flychat, uvloop, httptools; print(flychat.__file__)"
    where = subprocess.run(
        [str(bin_path("python")), "-c", probe], cwd="/", capture_output=True, text=True
    )
    if where.returncode != 0 or str(ROOT / "src") in where.stdout:
        raise RuntimeError(f"the bench venv's flychat is not a plain install: {where}")


def installed_versions() -> dict[str, str]:
    """Versions of the server stack in the bench venv."""
    code = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
        "('flychat', 'litestar', 'uvicorn', 'uvloop', 'httptools', 'sqlalchemy', 'aiosqlite', "
        "'asyncpg', 'msgspec')}))"
    )
    out = subprocess.run(
        [str(bin_path("python")), "-c", code], cwd="/", capture_output=True, text=True
    )
    import json

    return dict(json.loads(out.stdout)) if out.returncode == 0 else {"error": out.stderr[-300:]}


if __name__ == "__main__":
    print(ensure_installed())
    print(installed_versions())
    sys.exit(0)
