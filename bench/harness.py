"""The harness: a registry of scenarios and the context they run in.

A scenario is a function ``(ctx: Context) -> Result`` registered with
``@scenario(name, description, needs=..., order=...)`` in any module of the
``bench`` package (modules are discovered, so ``bench/grip.py`` or
``bench/storage.py`` only have to exist). ``needs`` names scenarios whose
results it reads through ``ctx.results`` (e.g. ``post-bare`` for the ratio);
they run first, also under ``--only``. ``groups`` lets ``--only GROUP`` name
several scenarios at once (``--only storage``). ``@summary`` functions add a
compact table of their own after the main one (``bench/storage.py`` does).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.install import bin_path, ensure_installed
from bench.procs import (
    LOOPBACK,
    PYTHON,
    ROOT,
    Child,
    free_port,
    machine_busy_seconds,
    wait_http_ok,
)
from bench.profiling import py_spy, summarize
from bench.stats import percentile, rounded

MESSAGES_PATH = "/rooms/{room}/messages/"


@dataclass(frozen=True)
class Options:
    """Knobs shared by every scenario (set from the command line)."""

    duration: float = 8.0
    warmup: float = 2.0
    concurrency: int = 32
    load_procs: int = 1
    rate: float = 200.0
    seconds: float = 10.0
    subscribers: int = 50
    log_level: str | None = None
    """None: flychat at its default (info, access log on), the bare app at warning (none)."""
    rounds: int = 3
    profile: bool = False
    soak_seconds: float = 600.0


@dataclass
class Result:
    """What a scenario measured: ``metrics`` go to the JSON report, ``rows`` to the table."""

    metrics: dict[str, Any]
    rows: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    """A named measurement."""

    name: str
    description: str
    run: Callable[[Context], Result]
    needs: tuple[str, ...] = ()
    order: int = 100
    default: bool = True
    key: str | None = None
    groups: tuple[str, ...] = ()
    once: bool = False


SCENARIOS: dict[str, Scenario] = {}
SUMMARIES: list[Callable[[dict[str, Any]], list[str]]] = []


def scenario(
    name: str,
    description: str,
    *,
    needs: tuple[str, ...] = (),
    order: int = 100,
    default: bool = True,
    key: str | None = None,
    groups: tuple[str, ...] = (),
    once: bool = False,
) -> Callable[[Callable[[Context], Result]], Callable[[Context], Result]]:
    """Register a scenario.

    ``needs``: scenarios run before it (their metrics are in ``ctx.results``);
    ``order``: position in a run; ``default=False``: only run when named with
    ``--only``; ``key``: the metric whose median picks the reported round;
    ``groups``: names that ``--only`` expands to every scenario of the group;
    ``once``: run in the first round only (long scenarios such as the soak).
    """

    def register(run: Callable[[Context], Result]) -> Callable[[Context], Result]:
        SCENARIOS[name] = Scenario(name, description, run, needs, order, default, key, groups, once)
        return run

    return register


def summary(
    make: Callable[[dict[str, Any]], list[str]],
) -> Callable[[dict[str, Any]], list[str]]:
    """Register a function of the finished report that returns extra lines to print."""
    SUMMARIES.append(make)
    return make


def groups() -> dict[str, list[str]]:
    """Every group name and its scenarios, in run order."""
    found: dict[str, list[str]] = {}
    for s in sorted(SCENARIOS.values(), key=lambda s: (s.order, s.name)):
        for group in s.groups:
            found.setdefault(group, []).append(s.name)
    return found


def load_scenarios() -> dict[str, Scenario]:
    """Import every module of the ``bench`` package so their scenarios register."""
    import bench

    for module in pkgutil.iter_modules(bench.__path__):
        if module.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"bench.{module.name}")
        except ImportError as exc:
            print(f"bench: skipping bench/{module.name}.py: {exc}", file=sys.stderr)
    return SCENARIOS


def plan(only: list[str] | None) -> list[Scenario]:
    """The scenarios to run, dependencies first, in ``order``."""
    if only:
        named = groups()
        wanted = set()
        for name in only:
            wanted.update(named[name] if name not in SCENARIOS and name in named else [name])
    else:
        wanted = {s.name for s in SCENARIOS.values() if s.default}
    unknown = wanted - SCENARIOS.keys()
    if unknown:
        raise KeyError(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    todo: set[str] = set()

    def add(name: str) -> None:
        if name not in todo:
            todo.add(name)
            for need in SCENARIOS[name].needs:
                add(need)

    for name in wanted:
        add(name)
    return sorted((SCENARIOS[n] for n in todo), key=lambda s: (s.order, s.name))


@dataclass
class Server:
    """A server process the harness started on loopback."""

    name: str
    port: int
    child: Child
    host: str = LOOPBACK

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU seconds the server process used so far."""
        return self.child.cpu_seconds()


class Context:
    """Everything a scenario needs: options, a scratch directory, process control, results."""

    def __init__(self, options: Options, log_dir: Path) -> None:
        self.options = options
        self.log_dir = log_dir
        self.results: dict[str, dict[str, Any]] = {}
        self.last_bare: dict[str, Any] | None = None
        """The latest window of the bare app this round: the "before" of the next ratio."""
        self._scratch = tempfile.TemporaryDirectory(prefix="flychat-bench-")
        self.workdir = Path(self._scratch.name)
        self._children: list[Child] = []
        self._installed: Path | None = None

    @property
    def installed_python(self) -> str:
        """The python of the bench venv, where flychat is installed as users install it."""
        if self._installed is None:
            self._installed = ensure_installed()
        return str(self._installed)

    # -- processes -------------------------------------------------------------------

    def spawn(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        *,
        stdin: int | None = None,
        stdout: int | None = None,
    ) -> Child:
        """Start a child process; it is stopped (by PID) when the scenario ends."""
        child = Child(name, argv, env, self.log_dir, stdin=stdin, stdout=stdout)
        self._children.append(child)
        return child

    def stop(self, child: Child) -> None:
        """Stop one child now (SIGTERM to its PID, SIGKILL after a grace period)."""
        child.stop()
        if child in self._children:
            self._children.remove(child)

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        while self._children:
            self.stop(self._children[-1])

    def close(self) -> None:
        """Stop everything and remove the scratch directory."""
        self.stop_all()
        self._scratch.cleanup()

    def sqlite_url(self, name: str) -> str:
        """A fresh SQLite database file in the scratch directory (a new one on every call)."""
        return f"sqlite:///{self.workdir / name}-{uuid.uuid4().hex[:8]}.db"

    def start_flychat(
        self, name: str, database_url: str, env: Mapping[str, str] | None = None
    ) -> Server:
        """``flychat serve`` of the plain install (bench venv) on a free loopback port, healthy."""
        self.installed_python  # noqa: B018 - installs or refreshes the bench venv
        port = free_port()
        child = self.spawn(
            name,
            [str(bin_path("flychat")), "serve"],
            {
                "FLYCHAT_DATABASE_URL": database_url,
                "FLYCHAT_HOST": LOOPBACK,
                "FLYCHAT_PORT": str(port),
                **({"FLYCHAT_LOG_LEVEL": self.options.log_level} if self.options.log_level else {}),
                **(env or {}),
            },
        )
        server = Server(name, port, child)
        wait_http_ok(f"{server.base_url}/healthz", child)
        return server

    def start_bare(self, name: str = "bare") -> Server:
        """The bare Litestar app (bench/bare_app.py) on the bench venv's stack, like flychat."""
        port = free_port()
        child = self.spawn(
            name,
            [self.installed_python, "-m", "bench.bare_app", "--port", str(port)],
            {"BENCH_LOG_LEVEL": self.options.log_level or "warning"},
        )
        server = Server(name, port, child)
        wait_http_ok(f"{server.base_url}/healthz", child)
        return server

    # -- load ------------------------------------------------------------------------

    def post_load(
        self,
        server: Server,
        *,
        room: str = "bench",
        rooms: int = 1,
        path: str = MESSAGES_PATH,
        concurrency: int | None = None,
        procs: int | None = None,
        store_cpu: Callable[[], float] | None = None,
        auth_secret: str = "",
    ) -> dict[str, Any]:
        """Closed-loop form POSTs from separate processes; figures for the window only.

        ``store_cpu``: cumulative CPU seconds of a database that runs outside the
        server (moto, PostgreSQL's backends), counted apart from the server and
        from "others".
        """
        opts = self.options
        concurrency = concurrency or opts.concurrency
        procs = max(1, min(procs or opts.load_procs, concurrency))
        start_at = time.time() + 1.0
        shares = [
            concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)
        ]
        workers = [
            self.spawn(
                f"{server.name}-loadgen{i}",
                [
                    PYTHON, "-m", "bench.loadgen",
                    "--host", server.host, "--port", str(server.port),
                    "--path", path, "--room", room, "--rooms", str(rooms),
                    "--concurrency", str(share), "--warmup", str(opts.warmup),
                    "--duration", str(opts.duration), "--start-at", repr(start_at),
                    "--tag", str(i),
                    *([f"--auth-secret={auth_secret}"] if auth_secret else []),
                ],
                stdout=subprocess.PIPE,
            )
            for i, share in enumerate(shares)
        ]  # fmt: skip
        time.sleep(max(0.0, start_at + opts.warmup - time.time()))
        profiler = self.profile(server) if opts.profile else None
        store = store_cpu or (lambda: 0.0)
        store0 = store()
        cpu0 = server.cpu_seconds(), [w.cpu_seconds() for w in workers], machine_busy_seconds()
        time.sleep(max(0.0, start_at + opts.warmup + opts.duration - time.time()))
        cpu1 = server.cpu_seconds(), [w.cpu_seconds() for w in workers], machine_busy_seconds()
        store1 = store()
        outputs = []
        for worker in workers:
            out, _ = worker.process.communicate(timeout=60)
            if worker.process.returncode != 0:
                raise RuntimeError(f"{worker.name} failed:\n{worker.log_tail()}")
            outputs.append(json_line(out))
            self.stop(worker)
        latencies = [x for o in outputs for x in o["latencies_ms"]]
        statuses: dict[str, int] = {}
        for o in outputs:
            for key, count in o["statuses"].items():
                statuses[key] = statuses.get(key, 0) + count
        ok = sum(o["ok"] for o in outputs)
        profile = self.profile_summary(profiler) if profiler else None
        server_cpu = (cpu1[0] - cpu0[0]) / opts.duration
        loadgen_cpu = [(b - a) / opts.duration for a, b in zip(cpu0[1], cpu1[1], strict=True)]
        machine_cpu = (cpu1[2] - cpu0[2]) / opts.duration
        store_cores = (store1 - store0) / opts.duration
        stored = (
            {
                "store_cpu_cores": round(store_cores, 2),
                "store_cpu_ms_per_post": round(store_cores * opts.duration * 1000 / max(ok, 1), 3),
            }
            if store_cpu
            else {}
        )
        return {
            "posts_per_s": round(ok / opts.duration, 1),
            "ok": ok,
            "non_2xx": sum(c for k, c in statuses.items() if not k.startswith("2")),
            "statuses": statuses,
            "connection_errors": sum(o["errors"] for o in outputs),
            "last_error": next((o["last_error"] for o in outputs if o["last_error"]), ""),
            "latency_p50_ms": rounded(percentile(latencies, 50)),
            "latency_p99_ms": rounded(percentile(latencies, 99)),
            "posts_per_server_cpu_s": round(ok / max(server_cpu * opts.duration, 1e-9), 1),
            "server_cpu_cores": round(server_cpu, 2),
            "loadgen_cpu_cores": [round(c, 2) for c in loadgen_cpu],
            **stored,
            "other_processes_cpu_cores": round(
                max(0.0, machine_cpu - server_cpu - store_cores - sum(loadgen_cpu)), 2
            ),
            "concurrency": concurrency,
            "loadgen_procs": procs,
            "rooms": rooms,
            "warmup_s": opts.warmup,
            "duration_s": opts.duration,
            **({"profile": profile} if profile else {}),
        }

    def profile(self, server: Server, seconds: float | None = None) -> tuple[Child, Path]:
        """Start py-spy on the server for ``seconds`` (default: the measurement window)."""
        out = self.log_dir / f"{server.name}-{time.strftime('%H%M%S')}.collapsed"
        seconds = seconds or self.options.duration
        argv = [str(py_spy()), "record", "--pid", str(server.child.pid), "--duration"]
        argv += [str(max(1, int(seconds))), "--rate", "200", "--nonblocking"]
        argv += ["--format", "raw", "--output", str(out)]
        return self.spawn(f"{server.name}-py-spy", argv), out

    def profile_summary(self, profiler: tuple[Child, Path]) -> dict[str, Any]:
        child, out = profiler
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(30)
        self.stop(child)
        if not out.exists():
            return {"error": f"py-spy wrote nothing: {child.log_tail(5)}"}
        return {"file": str(out.relative_to(ROOT)), **summarize(out)}


def json_line(out: bytes) -> Any:
    """The last JSON line a worker printed."""
    lines = [line for line in out.decode().splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("the worker printed nothing")
    return json.loads(lines[-1])


@contextlib.contextmanager
def running(ctx: Context) -> Iterator[Context]:
    """Stop whatever a scenario started, however it ended."""
    try:
        yield ctx
    finally:
        ctx.stop_all()
