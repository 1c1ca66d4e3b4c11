"""The ``flychat`` command: serve, migrate, stack, token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn

from flychat.bootstrap import migrate_store, sign_token
from flychat.config import ConfigError, Settings, load_settings
from flychat.domain.errors import StorageUnavailable
from flychat.entrypoints.app import create_app
from flychat.entrypoints.logs import configure_logging

SHUTDOWN_SECONDS = 8
TICK_SECONDS = 1.0
"""How often the idle server wakes: uvicorn's own loop wakes every 0.1 s to refresh its
``Date`` header (once a second) and look for a stop signal; 2-3 ms of CPU a second on
an idle process, a tenth of the app's CPU per message at 10 messages/s."""
_TICKS_PER_SECOND = 10


class _GracefulServer(uvicorn.Server):
    """A uvicorn server that wakes once a second when idle, and on SIGTERM at once ends
    the app's SSE streams and starts shutting down."""

    def __init__(self, config: uvicorn.Config, on_exit: list[object]) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_asked: asyncio.Event | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        for callback in self._on_exit:
            if callable(callback):
                callback()
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit_asked is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._exit_asked.set)

    async def main_loop(self) -> None:
        """uvicorn's tick (``Date`` header, stop checks) once per ``TICK_SECONDS``."""
        self._loop = asyncio.get_running_loop()
        self._exit_asked = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + _TICKS_PER_SECOND) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_asked.wait(), TICK_SECONDS)


def serve(settings: Settings) -> None:
    """Run the app with uvicorn until SIGINT/SIGTERM; SQLite files are migrated first."""
    if settings.store_scheme == "sqlite":
        asyncio.run(migrate_store(settings))
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        lifespan="on",
        proxy_headers=False,
    )

    def end_streams() -> None:
        services = getattr(app.state, "services", None)
        if services is None:
            return
        try:
            asyncio.get_running_loop().call_soon_threadsafe(services.feed.close_all)
        except RuntimeError:
            services.feed.close_all()

    for handled in (signal.SIGINT, signal.SIGTERM):
        signal.signal(handled, _after_shutdown)
    tune_gc()
    _GracefulServer(config, [end_streams]).run()


GC_THRESHOLDS = (10_000, 10, 10)
"""Young-generation size before a collection (Python's default: 700, 10, 10). A request's
objects die by reference count long before 10,000 allocations, so fewer survive into
the older generations whose collections stop every stream."""


def tune_gc() -> None:
    """Keep the garbage collector's pauses off the event loop's critical path.

    What importing and building the app allocated lives as long as the process: it is
    frozen out of the collector's sight (a full collection walked it in 30 ms). With
    1,000 streams the default thresholds spent 0.85 s of 14 s collecting, in pauses of
    up to 80 ms; these spend 0.1 s.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _after_shutdown(sig: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the stop signal once shut down; exit normally instead."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flychat", description="Realtime chat backend.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the app (default: SQLite, direct mode)")
    serve_cmd.add_argument("--host", help="interface to bind (FLYCHAT_HOST, default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port to bind (FLYCHAT_PORT, default 8000)")
    commands.add_parser("migrate", help="bring the configured store's schema up to date")
    stack_cmd = commands.add_parser("stack", help="run the app behind a Pushpin it starts itself")
    stack_cmd.add_argument("--port", type=int, help="Pushpin's public port (default 7999)")
    token_cmd = commands.add_parser(
        "token", help="print an access token signed with FLYCHAT_AUTH_SECRET"
    )
    token_cmd.add_argument("--sub", required=True, help="the user id (1-64 characters)")
    token_cmd.add_argument("--name", help="the display name (default: the sub)")
    token_cmd.add_argument(
        "--read", action="append", default=[], metavar="ROOM", help="room, prefix* or * to read"
    )
    token_cmd.add_argument(
        "--post", action="append", default=[], metavar="ROOM", help="room, prefix* or * to post"
    )
    token_cmd.add_argument(
        "--ttl", type=duration, default=3600.0, help="lifetime: 90s, 15m, 1h, 2d (default 1h)"
    )
    return parser


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(raw: str) -> float:
    """Seconds of a duration such as ``90``, ``90s``, ``15m``, ``1h`` or ``2d``."""
    text = raw.strip().lower()
    unit = _UNITS.get(text[-1:])
    number = text[:-1] if unit is not None else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {raw!r} (try 90s, 15m, 1h)") from None
    if not 0 < value <= 366 * 86400:
        raise argparse.ArgumentTypeError("the duration must be more than 0 and at most 366d")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flychat`` console script."""
    args = _parser().parse_args(argv)
    try:
        overrides = {"host": getattr(args, "host", None), "port": getattr(args, "port", None)}
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"flychat: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return _run_command(args, settings)
    except (StorageUnavailable, ValueError, OSError) as exc:
        if settings.log_format == "json":
            logging.getLogger("flychat").error("%s", exc)
        else:
            print(f"flychat: {exc}", file=sys.stderr)
        return 1


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "token":
        print(
            sign_token(
                settings,
                args.sub,
                name=args.name,
                read=tuple(args.read),
                post=tuple(args.post),
                ttl_seconds=args.ttl,
            )
        )
        return 0
    if args.command == "migrate":
        asyncio.run(migrate_store(settings))
        print(f"flychat: {settings.store_scheme} store is up to date")
        return 0
    if args.command == "stack":
        from flychat.entrypoints.stack import DEFAULT_PUBLIC_PORT, run_stack

        return run_stack(settings, serve, args.port or DEFAULT_PUBLIC_PORT)
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
