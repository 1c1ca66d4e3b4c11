"""Where the provisional lead goes in GRIP mode: as the app publishes it, and at a subscriber.

Scenario ``grip-lead`` (group ``grip``) runs one app behind a fresh Pushpin per store
(SQLite, then PostgreSQL) with one probe stream through Pushpin and posts to the app
at ``GRIP_RATE``. ``GRIP_URL`` names a second proxy whose ``zmq=`` is a ZeroMQ PULL
socket of the benchmark (the tap), so every item the app publishes reaches the tap
too, over the same kind of connection as it reaches Pushpin. Per message the tap
timestamps the provisional and the durable item as they leave the app; the probe
timestamps both events as they leave Pushpin. Post texts end with the poster's
``time.monotonic_ns()`` (system-wide), so both sides also give latencies from the
POST. Compared with each store's append time (bench/append_cost.py, in process).
The app's CPU here covers two publishes per item (Pushpin and the tap): ``grip-50``
is the CPU figure.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/grip_lead.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import zmq

from bench.delivery import _report, collect_outputs, post_at_rate
from bench.grip import (
    GRIP_RATE,
    append_time_ms,
    new_pushpin,
    order_figures,
    running,
    start_subscribers,
)
from bench.harness import MESSAGES_PATH, Context, Result, Server, scenario
from bench.stats import percentile, rounded
from bench.storage import postgres_database

STORES = ("sqlite", "postgres")
STORE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


class Tap:
    """A ZeroMQ PULL socket on loopback recording when each published item arrives."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[int, bytes]] = []
        self._stop = threading.Event()
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._socket = self._context.socket(zmq.PULL)
        self.port = self._socket.bind_to_random_port("tcp://127.0.0.1")
        self._thread = threading.Thread(target=self._receive, name="grip-lead-tap", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            if self._socket.poll(50):
                data = self._socket.recv()
                self.arrivals.append((time.monotonic_ns(), data))

    def close(self) -> None:
        """Stop receiving and close the socket."""
        self._stop.set()
        self._thread.join(5)
        self._socket.close(0)
        self._context.term()


def published(arrivals: list[tuple[int, bytes]]) -> dict[str, dict[str, int]]:
    """Per message (its provisional id): arrival ns and POST-send ns of each kind of item."""
    seen: dict[str, dict[str, int]] = {}
    for at_ns, data in arrivals:
        if not data.startswith(b"J"):
            continue
        item = json.loads(data[1:])
        content = item.get("http-stream", {}).get("content", "")
        line = next((x for x in content.split("\n") if x.startswith("data: ")), None)
        if line is None:
            continue
        fields = json.loads(line[len("data: ") :])
        if "text" not in fields:
            continue
        kind = "durable" if "id" in item else "provisional"
        entry = seen.setdefault(fields["provisionalId"], {})
        entry[kind] = at_ns
        entry["sent"] = int(fields["text"].rsplit(" ", 1)[1])
    return seen


def published_figures(arrivals: list[tuple[int, bytes]]) -> dict[str, Any]:
    """Lead of the provisional item over the durable one as they leave the app, and latencies."""
    both = [e for e in published(arrivals).values() if "provisional" in e and "durable" in e]
    leads = [(e["durable"] - e["provisional"]) / 1e6 for e in both]
    return {
        "published_messages": len(both),
        "published_provisional_first_pct": round(
            100 * sum(lead > 0 for lead in leads) / max(1, len(leads)), 2
        ),
        "published_lead_p1_ms": rounded(percentile(leads, 1)),
        "published_lead_p50_ms": rounded(percentile(leads, 50)),
        "published_provisional_p50_ms": rounded(
            percentile([(e["provisional"] - e["sent"]) / 1e6 for e in both], 50)
        ),
        "published_durable_p50_ms": rounded(
            percentile([(e["durable"] - e["sent"]) / 1e6 for e in both], 50)
        ),
    }


@contextmanager
def database(ctx: Context, store: str) -> Iterator[str]:
    """A fresh database URL for ``store``."""
    if store == "sqlite":
        yield ctx.sqlite_url("grip-lead")
        return
    with postgres_database(ctx) as (url, _name):
        yield url


def measure_store(ctx: Context, store: str) -> dict[str, Any]:
    """One store: app behind Pushpin plus the tap, one probe stream, posts at ``GRIP_RATE``."""
    name = f"grip-lead-{store}"
    tap = Tap()
    try:
        with database(ctx, store) as url:
            pushpin = new_pushpin(ctx, name, 0)
            tap_url = pushpin.http_grip_url + f"&zmq=tcp://127.0.0.1:{tap.port}"
            settings = {
                "GRIP_URL": f"{pushpin.grip_url},{tap_url}",
                "FLYCHAT_DIRECT_STREAMING": "false",
            }
            app = ctx.start_flychat(f"flychat-{name}", url, settings)
            pushpin.app_port = app.port
            with running(ctx, name, pushpin):
                m = _probe(ctx, app, pushpin.http_port, tap)
            ctx.stop(app.child)
            m["store_append_ms"] = round(append_time_ms(ctx, url), 3)
    finally:
        tap.close()
    return m


def _probe(ctx: Context, app: Server, proxy_port: int, tap: Tap) -> dict[str, Any]:
    room = f"lead-{uuid.uuid4().hex[:8]}"
    workers = start_subscribers(ctx, f"{app.name}-probe", proxy_port, room, 1)
    tap.arrivals.clear()
    path = MESSAGES_PATH.replace("{room}", room)
    cpu0 = app.cpu_seconds()
    posted = asyncio.run(post_at_rate(app.host, app.port, path, GRIP_RATE, ctx.options.seconds))
    cpu = app.cpu_seconds() - cpu0
    outputs = collect_outputs(ctx, workers, len(posted.stored))
    m = _report(posted, outputs, GRIP_RATE, ctx.options.seconds, 1, cpu)
    m.update(order_figures(outputs))
    m.update(published_figures(list(tap.arrivals)))
    for kind in ("provisional", "durable"):
        at_subscriber, at_app = m[f"{kind}_p50_ms"], m[f"published_{kind}_p50_ms"]
        m[f"pushpin_{kind}_p50_ms"] = (
            None if at_subscriber is None or at_app is None else round(at_subscriber - at_app, 3)
        )
    return m


@scenario(
    "grip-lead",
    f"GRIP mode: provisional lead as published and at a stream through Pushpin, "
    f"{GRIP_RATE:g} msgs/s, SQLite and PostgreSQL",
    order=63,
    key="sqlite_published_lead_p50_ms",
    groups=("grip",),
)
def grip_lead(ctx: Context) -> Result:
    m: dict[str, Any] = {}
    rows: list[tuple[str, str]] = []
    for store in STORES:
        figures = measure_store(ctx, store)
        m.update({f"{store}_{k}": v for k, v in figures.items()})
        append = figures["store_append_ms"]
        at_app, at_sub = figures["published_lead_p50_ms"], figures["provisional_lead_p50_ms"]
        figures_met = {
            "published_lead_covers_append": at_app is not None and at_app >= append,
            "subscriber_lead_covers_append": at_sub is not None and at_sub >= append,
        }
        m[f"{store}_targets"] = figures_met
        label = STORE_NAMES[store]
        rows += [
            (
                f"{label}: lead as the app publishes, p50 / p1 (vs append {append} ms)",
                f"{at_app} / {figures['published_lead_p1_ms']} ms "
                f"({'covers' if figures_met['published_lead_covers_append'] else 'below'} it; "
                f"provisional first {figures['published_provisional_first_pct']}% "
                f"of {figures['published_messages']})",
            ),
            (
                f"{label}: lead at the stream through Pushpin, p50 / p1",
                f"{at_sub} / {figures['provisional_lead_p1_ms']} ms "
                f"({'covers' if figures_met['subscriber_lead_covers_append'] else 'below'} "
                f"the append; provisional first {figures['provisional_first_pct']}%)",
            ),
            (
                f"{label}: Pushpin's own latency p50, provisional / durable item",
                f"{figures['pushpin_provisional_p50_ms']} / {figures['pushpin_durable_p50_ms']} ms",
            ),
            (
                f"{label}: every message reached the stream in order",
                "yes" if figures["all_delivered_in_order"] else "NO",
            ),
        ]
    m["all_delivered_in_order"] = all(m[f"{s}_all_delivered_in_order"] for s in STORES)
    return Result(m, rows)


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "grip-lead", *sys.argv[1:]]))
