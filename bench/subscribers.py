"""SSE subscribers for the delivery benchmark: one process holding many streams.

Protocol with the harness (stdin/stdout lines):
  1. it opens ``--count`` streams on the room and prints ``READY`` once every one
     has received ``stream-open`` (and its history);
  2. the harness posts, then writes ``EXPECT <n> <seconds>``;
  3. it waits until every stream has ``n`` durable messages (or the time is up),
     prints one JSON line and exits.

Every post's text ends with the poster's ``time.monotonic_ns()`` taken just before
the request was written (CLOCK_MONOTONIC is system-wide on Linux), so latency is
``now - that`` when the event has been parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.rawhttp import _headers, get_request
from bench.stats import bucket


@dataclass
class Stream:
    """What one subscriber received."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    ids: list[int] = field(default_factory=list)
    digest: Any = field(default_factory=hashlib.sha256)
    durable: dict[int, int] = field(default_factory=dict)
    provisional: dict[int, int] = field(default_factory=dict)
    provisional_count: int = 0
    provisional_at: dict[str, int] = field(default_factory=dict)
    provisional_first: int = 0
    durable_first: int = 0
    lead: dict[int, int] = field(default_factory=dict)
    resets: int = 0
    other: int = 0
    error: str = ""
    max_ms: float = 0.0
    slowest: list[tuple[int, float]] = field(default_factory=list)

    def record(self, histogram: dict[int, int], text: str) -> float | None:
        try:
            sent_ns = int(text.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            return None
        ms = (time.monotonic_ns() - sent_ns) / 1e6
        key = bucket(ms)
        histogram[key] = histogram.get(key, 0) + 1
        return ms

    def on_event(self, block: str) -> None:
        name, event_id, data = "message", None, []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "id":
                event_id = value
            elif key == "data":
                data.append(value)
        if not data:
            return
        if name == "stream-open":
            self.opened.set()
        elif name == "stream-reset":
            self.resets += 1
        elif name != "message":
            self.other += 1
        elif event_id is None:
            fields = json.loads("\n".join(data))
            if "text" in fields:
                self.provisional_count += 1
                self.provisional_at[fields["provisionalId"]] = time.monotonic_ns()
                self.record(self.provisional, fields["text"])
        else:
            fields = json.loads("\n".join(data))
            self._order(fields["provisionalId"])
            self.ids.append(int(event_id))
            self.digest.update(f"{fields['id']}:{fields['provisionalId']}\n".encode())
            ms = self.record(self.durable, fields["text"])
            if ms is not None:
                self.max_ms = max(self.max_ms, ms)
                self.slowest.append((int(event_id), round(ms, 1)))
                if len(self.slowest) > 64:
                    self.slowest = sorted(self.slowest, key=lambda p: -p[1])[:8]

    def _order(self, provisional_id: str) -> None:
        """Count whether this message's provisional event came first, and by how much."""
        seen_ns = self.provisional_at.pop(provisional_id, None)
        if seen_ns is None:
            self.durable_first += 1
            return
        self.provisional_first += 1
        key = bucket((time.monotonic_ns() - seen_ns) / 1e6)
        self.lead[key] = self.lead.get(key, 0) + 1


class _Follower(asyncio.Protocol):
    """One stream read by callbacks: HTTP head, chunked framing, SSE events; no await per event."""

    def __init__(self, stream: Stream, request: bytes) -> None:
        self.stream = stream
        self.request = request
        self.raw = b""
        self.text = ""
        self.head_done = False
        self.chunked = True
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stopping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.stream.error and not self.stopping:
            self.stream.error = f"{type(exc).__name__}: {exc}" if exc else "the stream ended"
        self._end()

    def _end(self) -> None:
        self.stream.opened.set()
        if not self.closed.done():
            self.closed.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        raw = self.raw + data
        if not self.head_done:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                self.raw = raw
                return
            status, headers = _headers(raw[: end + 4])
            if status != 200:
                self.stream.error = f"status {status}"
                self._end()
                return
            self.chunked = headers.get(b"transfer-encoding", b"").lower() == b"chunked"
            raw = raw[end + 4 :]
            self.head_done = True
        if not self.chunked:
            self.raw = b""
            self._events(raw)
            return
        pieces = []
        pos = 0
        ended = False
        while (eol := raw.find(b"\r\n", pos)) >= 0:
            size = int(raw[pos:eol].split(b";", 1)[0], 16)
            if size == 0:
                ended = True
                break
            if len(raw) < eol + 4 + size:
                break
            pieces.append(raw[eol + 2 : eol + 2 + size])
            pos = eol + 4 + size
        self.raw = raw[pos:]
        self._events(b"".join(pieces))
        if ended:
            self.stream.error = "the stream ended"
            self._end()

    def _events(self, body: bytes) -> None:
        if not body:
            return
        *blocks, self.text = (self.text + body.decode().replace("\r\n", "\n")).split("\n\n")
        for block in blocks:
            self.stream.on_event(block)


async def _follow(args: argparse.Namespace, stream: Stream) -> None:
    path = args.path.replace("{room}", args.room)
    request = get_request(args.host, args.port, path, "text/event-stream")
    loop = asyncio.get_running_loop()
    try:
        transport, follower = await loop.create_connection(
            lambda: _Follower(stream, request), args.host, args.port
        )
    except OSError as exc:
        stream.error = f"connect: {exc}"
        stream.opened.set()
        return
    try:
        await follower.closed
    finally:
        stream.opened.set()
        follower.stopping = True
        transport.close()


def _summary(streams: list[Stream]) -> dict[str, object]:
    durable: dict[int, int] = {}
    provisional: dict[int, int] = {}
    lead: dict[int, int] = {}
    report = []
    for stream in streams:
        for key, count in stream.lead.items():
            lead[key] = lead.get(key, 0) + count
        for key, count in stream.durable.items():
            durable[key] = durable.get(key, 0) + count
        for key, count in stream.provisional.items():
            provisional[key] = provisional.get(key, 0) + count
        ids = stream.ids
        report.append(
            {
                "count": len(ids),
                "first": ids[0] if ids else None,
                "last": ids[-1] if ids else None,
                "consecutive": all(b == a + 1 for a, b in itertools.pairwise(ids)),
                "digest": stream.digest.hexdigest(),
                "provisional": stream.provisional_count,
                "resets": stream.resets,
                "error": stream.error,
                "max_ms": round(stream.max_ms, 3),
            }
        )
    slowest = sorted((p for s in streams[:1] for p in s.slowest), key=lambda p: -p[1])[:8]
    return {
        "streams": report,
        "durable_hist": durable,
        "provisional_hist": provisional,
        "provisional_first": sum(s.provisional_first for s in streams),
        "durable_first": sum(s.durable_first for s in streams),
        "provisional_lead_hist": lead,
        "slowest": slowest,
    }


async def _main(args: argparse.Namespace) -> None:
    streams = [Stream() for _ in range(args.count)]
    tasks = []
    for stream in streams:
        tasks.append(asyncio.create_task(_follow(args, stream)))
        await asyncio.sleep(0)
    await asyncio.wait_for(
        asyncio.gather(*(s.opened.wait() for s in streams)), args.connect_timeout
    )
    print("READY", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    _, expected, seconds = line.split()
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        if all(len(s.ids) >= int(expected) or s.error for s in streams):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # anything extra (duplicates) arriving late is counted too
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(_summary(streams)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/rooms/{room}/messages/")
    parser.add_argument("--room", required=True)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(_main(args))
    else:
        uvloop.run(_main(args))


if __name__ == "__main__":
    main()
