"""``/metrics`` over real HTTP: the families, how they move, route-template labels, off switch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families

from flychat.adapters.memory import InMemoryMessageLog
from flychat.config import Settings
from flychat.entrypoints.app import create_app
from tests.e2e.streams import open_stream
from tests.support.servers import app_in_thread

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

FAMILIES = {
    "flychat_posts": "counter",
    "flychat_append_seconds": "histogram",
    "flychat_streams_open": "gauge",
    "flychat_stream_resets": "counter",
    "flychat_grip_publish_failures": "counter",
    "flychat_grip_recoveries": "counter",
    "flychat_http_requests": "counter",
    "flychat_http_request_duration_seconds": "histogram",
}
OUTCOMES = ("stored", "duplicate", "rejected", "unavailable")
KEY = "metrics-e2e-signing-key-0123456789abcdef"


def settings(**kw: object) -> Settings:
    return Settings(database_url="memory://", keepalive_seconds=0.3, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def app() -> Litestar:
    return create_app(settings())


@pytest.fixture(scope="module")
def base_url(app: Litestar) -> Iterator[str]:
    with app_in_thread(app) as url:
        yield url


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def posts(samples: Samples) -> dict[str, float]:
    return {o: samples[("flychat_posts_total", frozenset({("outcome", o)}))] for o in OUTCOMES}


def value(samples: Samples, name: str) -> float:
    return samples[(name, frozenset())]


def moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before if after[k] != before[k]}


async def test_every_family_is_exposed_with_its_type(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    page_like = await client.get("/metrics?user=bob", headers={"Accept": "text/html"})
    assert page_like.headers["content-type"].startswith("text/plain")
    response = await client.get("/metrics")
    types = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert {name: types.get(name) for name in FAMILIES} == FAMILIES
    assert posts(await scrape(client)).keys() == set(OUTCOMES)


async def test_each_post_outcome_counts_once(
    app: Litestar, client: httpx.AsyncClient, room: str
) -> None:
    url = f"/rooms/{room}/messages/"
    fields = {"from": "a", "text": "hi", "provisionalId": "metrics-0001"}
    start = await scrape(client)

    assert (await client.post(url, data=fields)).status_code == 200
    after_stored = await scrape(client)
    assert moved(posts(start), posts(after_stored)) == {"stored": 1}
    appends = "flychat_append_seconds_count"
    assert value(after_stored, appends) == value(start, appends) + 1

    assert (await client.post(url, data=fields)).status_code == 200
    after_duplicate = await scrape(client)
    assert moved(posts(after_stored), posts(after_duplicate)) == {"duplicate": 1}

    assert (await client.post(url, data={"from": "a", "text": ""})).status_code == 400
    assert (
        await client.post(url, content=b"x", headers={"Content-Type": "text/csv"})
    ).status_code == 415
    after_rejected = await scrape(client)
    assert moved(posts(after_duplicate), posts(after_rejected)) == {"rejected": 2}

    log = app.state.services.chat.log
    assert isinstance(log, InMemoryMessageLog)
    log.available = False
    try:
        assert (await client.post(url, data={"from": "a", "text": "lost"})).status_code == 503
    finally:
        log.available = True
    after_unavailable = await scrape(client)
    assert moved(posts(after_rejected), posts(after_unavailable)) == {"unavailable": 1}


async def test_request_metrics_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    rooms = ("metrics-alpha-7731", "metrics-beta-8842")
    key = (
        "flychat_http_requests_total",
        frozenset(
            {
                ("method", "POST"),
                ("path", "/rooms/{room}/messages"),
                ("status_code", "200"),
                ("app_name", "flychat"),
            }
        ),
    )
    before = (await scrape(client)).get(key, 0.0)
    for room in rooms:
        response = await client.post(f"/rooms/{room}/messages/", data={"from": "a", "text": "x"})
        assert response.status_code == 200
        assert (await client.get(f"/rooms/{room}/messages/")).status_code == 200
    text = (await client.get("/metrics")).text
    assert not [room for room in rooms if room in text]
    after = await scrape(client)
    assert after[key] == before + 2
    paths = {dict(labels).get("path") for name, labels in after if name.startswith("flychat_http")}
    assert "/rooms/{room}/messages" in paths and "/metrics" in paths


async def wait_for_value(client: httpx.AsyncClient, name: str, expected: float) -> float:
    deadline = time.monotonic() + 10
    while True:
        found = value(await scrape(client), name)
        if found == expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_streams_open_counts_the_direct_streams_held(
    client: httpx.AsyncClient, room: str
) -> None:
    before = value(await scrape(client), "flychat_streams_open")
    async with open_stream(client, room) as first, open_stream(client, room) as second:
        await first.next()
        await second.next()
        assert value(await scrape(client), "flychat_streams_open") == before + 2
    assert await wait_for_value(client, "flychat_streams_open", before) == before


async def test_a_stream_reset_is_counted(client: httpx.AsyncClient, room: str) -> None:
    before = value(await scrape(client), "flychat_stream_resets_total")
    async with open_stream(client, room, last_event_id="999") as stream:
        _, reset = await stream.take(2)
        assert reset.event == "stream-reset"
    assert value(await scrape(client), "flychat_stream_resets_total") == before + 1
    async with open_stream(client, room) as stream:
        await stream.next()
    assert value(await scrape(client), "flychat_stream_resets_total") == before + 1


def grip_sig() -> dict[str, str]:
    claims = {"iss": "pushpin", "exp": int(time.time()) + 60}
    return {"Grip-Sig": jwt.encode(claims, KEY, algorithm="HS256")}


async def test_grip_recoveries_resets_and_publish_failures_are_counted() -> None:
    grip = settings(grip_urls=(f"http://127.0.0.1:9?iss=pushpin&key={KEY}",), max_replay=5)
    with app_in_thread(create_app(grip)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            start = await scrape(client)
            path = "/rooms/grip-metrics/messages/"
            assert (await client.post(path, data={"from": "a", "text": "x"})).status_code == 200
            failures = "flychat_grip_publish_failures_total"
            assert await wait_for_value(client, failures, value(start, failures) + 1) > value(
                start, failures
            )
            recover = {"Grip-Last": "messages-grip-metrics; last-id=1", **grip_sig()}
            assert (await client.get(path + "?recover=true", headers=recover)).status_code == 200
            beyond = {"Grip-Last": "messages-grip-metrics; last-id=50", **grip_sig()}
            assert (await client.get(path + "?recover=true", headers=beyond)).status_code == 200
            end = await scrape(client)
    assert (
        value(end, "flychat_grip_recoveries_total")
        == value(start, "flychat_grip_recoveries_total") + 2
    )
    assert (
        value(end, "flychat_stream_resets_total") == value(start, "flychat_stream_resets_total") + 1
    )


async def test_two_apps_keep_their_own_counts(client: httpx.AsyncClient) -> None:
    with app_in_thread(create_app(settings())) as other_url:
        async with httpx.AsyncClient(base_url=other_url, timeout=10) as other:
            before = posts(await scrape(client))["stored"]
            response = await other.post(
                "/rooms/elsewhere/messages/", data={"from": "a", "text": "x"}
            )
            assert response.status_code == 200
            assert posts(await scrape(other))["stored"] == 1
    assert posts(await scrape(client))["stored"] == before


async def test_metrics_false_removes_the_endpoint() -> None:
    app = create_app(settings(metrics=False))
    with app_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/metrics")).status_code == 404
            html = await client.get("/metrics?user=bob", headers={"Accept": "text/html"})
            assert html.status_code == 404
            assert (await client.get("/metrics/")).status_code == 404
            room = "/rooms/quiet/messages/"
            assert (await client.post(room, data={"from": "a", "text": "x"})).status_code == 200
    assert app.state.metrics_registry is None


def http_labels(method: str, status: int) -> frozenset[tuple[str, str]]:
    return frozenset(
        {
            ("method", method),
            ("path", "/rooms/{room}/messages"),
            ("status_code", str(status)),
            ("app_name", "flychat"),
        }
    )


async def test_an_open_stream_is_in_progress_under_its_status(
    client: httpx.AsyncClient, room: str
) -> None:
    key = ("flychat_http_requests_in_progress", http_labels("GET", 200))
    before = (await scrape(client)).get(key, 0.0)
    async with open_stream(client, room) as stream:
        await stream.next()
        assert (await scrape(client))[key] == before + 1
    deadline = time.monotonic() + 10
    while (await scrape(client))[key] != before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert (await scrape(client))[key] == before


async def test_a_5xx_answer_counts_as_an_error(
    app: Litestar, client: httpx.AsyncClient, room: str
) -> None:
    errors = ("flychat_http_requests_error_total", http_labels("POST", 503))
    answered = ("flychat_http_requests_total", http_labels("POST", 503))
    start = await scrape(client)
    log = app.state.services.chat.log
    assert isinstance(log, InMemoryMessageLog)
    log.available = False
    try:
        response = await client.post(f"/rooms/{room}/messages", data={"from": "a", "text": "x"})
        assert response.status_code == 503
    finally:
        log.available = True
    end = await scrape(client)
    assert end[errors] == start.get(errors, 0.0) + 1
    assert end[answered] == start.get(answered, 0.0) + 1
    took = ("flychat_http_request_duration_seconds_count", http_labels("POST", 503))
    assert end[took] == start.get(took, 0.0) + 1
