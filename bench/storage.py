"""Storage scenarios: POSTs into one room and into 100 rooms on SQLite, PostgreSQL and DynamoDB.

``python -m bench --only storage`` runs them side by side (with ``post-bare``, the
ceiling their ratios are taken against, in the same round) and prints a compact
table after the main one. ``python bench/storage.py`` does the same.

- memory:// (no store, the app's own cost) and SQLite, a fresh file in the scratch
  directory (``post-memory`` and ``post-sqlite`` are in ``core.py``).
- PostgreSQL: a fresh database on the server at ``BENCH_POSTGRES_URL`` (default
  ``postgresql://postgres@127.0.0.1:5432/test``, loopback only), migrated with
  ``flychat migrate`` and dropped afterwards. The whole local PostgreSQL
  server's CPU (postmaster, backends, exited backends) is counted as the store's.
- DynamoDB: moto's standalone server (``python -m moto.server``, what
  ``moto_server`` runs) on a free loopback port, a table created with
  ``flychat migrate``; moto's own CPU is counted as the store's. moto is an
  in-memory Python emulator: its figures say nothing about real DynamoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):  # run as a script: python bench/storage.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.core import with_ratio
from bench.harness import Context, Result, scenario, summary
from bench.procs import LOOPBACK, PYTHON, free_port, wait_http_ok

MANY_ROOMS = 100
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MIGRATE_SECONDS = 120.0
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/flychat-bench-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/flychat-bench-aws-credentials",
}
"""Fake credentials, and no profile files: nothing here can reach real AWS."""

# (scenario, store label, rooms): the rows of the summary table, in this order.
TABLE = (
    ("post-memory", "memory:// (no store)", 1),
    ("post-memory-100", "memory:// (no store)", MANY_ROOMS),
    ("post-sqlite", "SQLite", 1),
    ("post-sqlite-100", "SQLite", MANY_ROOMS),
    ("post-postgres", "PostgreSQL", 1),
    ("post-postgres-100", "PostgreSQL", MANY_ROOMS),
    ("post-dynamodb", "DynamoDB (moto)", 1),
    ("post-dynamodb-100", "DynamoDB (moto)", MANY_ROOMS),
)


def migrate(
    ctx: Context, name: str, database_url: str, env: Mapping[str, str] | None = None
) -> None:
    """Run ``flychat migrate`` on ``database_url`` as a child process; raise if it fails."""
    child = ctx.spawn(
        name,
        [PYTHON, "-m", "flychat.entrypoints.cli", "migrate"],
        {"FLYCHAT_DATABASE_URL": database_url, **(env or {})},
    )
    try:
        code = child.process.wait(MIGRATE_SECONDS)
    except subprocess.TimeoutExpired:
        code = None
    ctx.stop(child)
    if code != 0:
        raise RuntimeError(f"flychat migrate failed ({code}):\n{child.log_tail()}")


# -- PostgreSQL --------------------------------------------------------------------------


def _loopback_url(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise RuntimeError(f"BENCH_POSTGRES_URL must point at loopback, not {host!r}")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


class PostgresServer:
    """Cumulative CPU seconds of the local PostgreSQL server, found through one database.

    PostgreSQL titles each backend ``postgres: ... USER DATABASE HOST(PORT) STATE``; a
    backend of the benchmark's database names the postmaster (its parent). The total
    is the postmaster's own CPU, the CPU of the children it has reaped (``cutime``
    and ``cstime``: backends that exited, e.g. pool overflow connections closed
    during the window) and that of its live children (every backend, the WAL writer,
    the checkpointer). So it covers the whole server, other databases included: on
    a shared server, run this when nobody else uses it, or read ``others``.
    ``backends_seen`` counts the distinct backends of the database at the samples.
    """

    def __init__(self, database: str) -> None:
        self._needle = f" {database} "
        self._postmaster: int | None = None
        self.backends_seen: set[int] = set()

    def __call__(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        stats: dict[int, list[str]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = _stat(pid)
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    title = handle.read().decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            stats[pid] = stat
            if title.startswith("postgres:") and self._needle in title:
                self.backends_seen.add(pid)
                self._postmaster = self._postmaster or int(stat[1])
        if self._postmaster is None or self._postmaster not in stats:
            raise RuntimeError("no PostgreSQL backend of the benchmark's database in /proc")
        own = stats[self._postmaster]
        total = sum(int(v) for v in own[11:15])
        for stat in stats.values():
            if int(stat[1]) == self._postmaster:
                total += int(stat[11]) + int(stat[12])
        return total / ticks


async def _sessions(url: str, name: str) -> int:
    """Sessions established to database ``name`` so far (pg_stat_database, PostgreSQL 14+)."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        value = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1", name
        )
        return int(value or 0)
    finally:
        await conn.close()


@contextlib.contextmanager
def postgres_database(ctx: Context) -> Iterator[tuple[str, str]]:
    """A fresh, migrated PostgreSQL database: (its URL, its name); dropped afterwards.

    Everything the scenario started is stopped before the drop, so the app's
    connections are gone by then (``WITH (FORCE)`` ends any that are left).
    """
    _loopback_url(POSTGRES_ADMIN_URL)
    if importlib.util.find_spec("asyncpg") is None:
        raise RuntimeError("asyncpg is not installed in this environment")
    name = f"flychat_bench_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(POSTGRES_ADMIN_URL, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise RuntimeError(
            f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable "
            f"(set BENCH_POSTGRES_URL): {type(exc).__name__}: {exc}"
        ) from exc
    try:
        url = _with_database(POSTGRES_ADMIN_URL, name)
        migrate(ctx, "migrate-postgres", url)
        yield url, name
    finally:
        ctx.stop_all()
        asyncio.run(_admin(POSTGRES_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def post_postgres(ctx: Context, rooms: int) -> Result:
    with postgres_database(ctx) as (url, name):
        server = ctx.start_flychat(f"flychat-postgres-{rooms}", url)
        postgres = PostgresServer(name)
        sessions0 = asyncio.run(_sessions(POSTGRES_ADMIN_URL, name))
        metrics = ctx.post_load(server, rooms=rooms, store_cpu=postgres)
        sessions1 = asyncio.run(_sessions(POSTGRES_ADMIN_URL, name))
        metrics["store_name"] = "PostgreSQL server"
        metrics["postgres_backends_seen"] = len(postgres.backends_seen)
        metrics["postgres_sessions_opened"] = sessions1 - sessions0
    result = with_ratio(ctx, metrics, f"postgres-{rooms}")
    result.rows.append(
        (
            "PostgreSQL sessions opened during the load (warm-up + window)",
            f"{metrics['postgres_sessions_opened']} "
            f"({metrics['postgres_backends_seen']} backends seen at the 2 samples)",
        )
    )
    return result


# -- DynamoDB on moto ----------------------------------------------------------------------


def post_dynamodb(ctx: Context, rooms: int) -> Result:
    if importlib.util.find_spec("moto.server") is None:
        raise RuntimeError("moto's server is not installed (moto[server])")
    port = free_port()
    moto = ctx.spawn(
        f"moto-{rooms}", [PYTHON, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)], AWS_ENV
    )
    wait_http_ok(f"http://{LOOPBACK}:{port}/", moto, ok=lambda status: True)
    url = f"dynamodb://flychat-bench?region=us-east-1&endpoint_url=http://{LOOPBACK}:{port}"
    migrate(ctx, f"migrate-dynamodb-{rooms}", url, AWS_ENV)
    server = ctx.start_flychat(f"flychat-dynamodb-{rooms}", url, AWS_ENV)
    metrics = ctx.post_load(server, rooms=rooms, store_cpu=moto.cpu_seconds)
    metrics["store_name"] = "moto"
    return with_ratio(ctx, metrics, f"dynamodb-{rooms}")


# -- scenarios ---------------------------------------------------------------------------


@scenario(
    "post-sqlite-100",
    f"flychat serve on a fresh SQLite file: POSTs spread over {MANY_ROOMS} rooms",
    needs=("post-bare",),
    order=31,
    key="ratio_to_bare",
    groups=("storage",),
)
def post_sqlite_many(ctx: Context) -> Result:
    server = ctx.start_flychat("flychat-sqlite-100", ctx.sqlite_url("post-100"))
    return with_ratio(ctx, ctx.post_load(server, rooms=MANY_ROOMS), "sqlite-100")


@scenario(
    "post-memory-100",
    f"flychat serve on memory:// (no storage cost): POSTs spread over {MANY_ROOMS} rooms",
    needs=("post-bare",),
    order=36,
    key="ratio_to_bare",
    groups=("storage",),
)
def post_memory_many(ctx: Context) -> Result:
    server = ctx.start_flychat("flychat-memory-100", "memory://")
    return with_ratio(ctx, ctx.post_load(server, rooms=MANY_ROOMS), "memory-100")


@scenario(
    "post-postgres",
    "flychat serve on a fresh PostgreSQL database: POSTs into one room",
    needs=("post-bare",),
    order=40,
    key="ratio_to_bare",
    groups=("storage",),
)
def post_postgres_one(ctx: Context) -> Result:
    return post_postgres(ctx, 1)


@scenario(
    "post-postgres-100",
    f"flychat serve on a fresh PostgreSQL database: POSTs spread over {MANY_ROOMS} rooms",
    needs=("post-bare",),
    order=41,
    key="ratio_to_bare",
    groups=("storage",),
)
def post_postgres_many(ctx: Context) -> Result:
    return post_postgres(ctx, MANY_ROOMS)


@scenario(
    "post-dynamodb",
    "flychat serve on DynamoDB (moto server, not a proxy for AWS): POSTs into one room",
    needs=("post-bare",),
    order=42,
    key="ratio_to_bare",
    groups=("storage",),
)
def post_dynamodb_one(ctx: Context) -> Result:
    return post_dynamodb(ctx, 1)


@scenario(
    "post-dynamodb-100",
    f"flychat serve on DynamoDB (moto server): POSTs spread over {MANY_ROOMS} rooms",
    needs=("post-bare",),
    order=43,
    key="ratio_to_bare",
    groups=("storage",),
)
def post_dynamodb_many(ctx: Context) -> Result:
    return post_dynamodb(ctx, MANY_ROOMS)


# -- the side-by-side table ------------------------------------------------------------------


def _median(rounds: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def _range(rounds: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else ""


def _cpu_ms(rounds: list[dict[str, Any]]) -> float | None:
    per_s = _median(rounds, "posts_per_server_cpu_s")
    return 1000 / per_s if per_s else None


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


@summary
def storage_table(report: dict[str, Any]) -> list[str]:
    """Each store side by side: medians over the rounds of each figure on its own."""
    scenarios = report.get("scenarios", {})
    if not any(
        name in scenarios for name, _, _ in TABLE if name not in ("post-sqlite", "post-memory")
    ):
        return []
    header = (
        "store",
        "rooms",
        "POSTs/s",
        "ratio",
        "server CPU/POST",
        "ratio per CPU (range)",
        "store CPU/POST",
        "p99",
        "failed",
    )
    lines: list[tuple[str, ...]] = [header]
    bare = scenarios.get("post-bare", {})
    bare_rounds = [r for r in bare.get("rounds", []) if "posts_per_s" in r]
    if bare_rounds:
        lines.append(
            (
                "bare Litestar",
                "-",
                _fmt(_median(bare_rounds, "posts_per_s"), ",.0f"),
                "1",
                _fmt(_cpu_ms(bare_rounds), ".3f", " ms"),
                "1",
                "-",
                _fmt(_median(bare_rounds, "latency_p99_ms"), ".0f", " ms"),
                "",
            )
        )
    for name, label, rooms in TABLE:
        entry = scenarios.get(name)
        if entry is None:
            continue
        good = [r for r in entry.get("rounds", []) if "posts_per_s" in r]
        if not good:
            error = (entry.get("error") or "not run").splitlines()[0][:100]
            lines.append((label, str(rooms), f"ERROR: {error}"))
            continue
        failed = sum(r["non_2xx"] + r["connection_errors"] for r in good)
        errors = len(entry.get("rounds", [])) - len(good)
        cpu_ratio = _fmt(_median(good, "cpu_ratio_to_bare"), ".2f")
        spread = _range(good, "cpu_ratio_to_bare")
        measured = any("store_cpu_ms_per_post" in r for r in good)
        lines.append(
            (
                label,
                str(rooms),
                _fmt(_median(good, "posts_per_s"), ",.0f"),
                _fmt(_median(good, "ratio_to_bare"), ".2f"),
                _fmt(_cpu_ms(good), ".3f", " ms"),
                f"{cpu_ratio} ({spread})" if spread else cpu_ratio,
                _fmt(_median(good, "store_cpu_ms_per_post"), ".3f", " ms")
                if measured
                else "in server",
                _fmt(_median(good, "latency_p99_ms"), ".0f", " ms"),
                f"{failed}" + (f" +{errors} rounds ERROR" if errors else ""),
            )
        )
    full = [line for line in lines if len(line) == len(header)]
    widths = [max(len(line[i]) for line in full) for i in range(len(header))]
    rounds = report.get("options", {}).get("rounds", 1)
    out = [
        f"storage: median of each figure over {rounds} round(s); ratios to the mean of the "
        "bare Litestar windows just before and just after each one; failed = non-2xx + "
        "connection errors in all rounds; "
        "moto is an emulator, not a proxy for DynamoDB's speed",
    ]
    for line in lines:
        cells = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(line)]
        out.append("  ".join(cells).rstrip())
    return out


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "storage", *sys.argv[1:]]))
