"""Publishing to GRIP proxies: enqueue without blocking, send in batches, per proxy, in order."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Iterable

import httpx

from flychat.adapters.grip.proxy import GripProxy
from flychat.domain.channels import messages_channel, provisional_channel
from flychat.domain.metrics import NO_METRICS, ChatMetrics
from flychat.domain.model import Draft, Message, RoomId
from flychat.domain.wire import sse_message, sse_provisional, sse_retraction

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 512_000
MAX_PENDING = 100_000


class _QuietPublishes(logging.Filter):
    """Drops httpx's per-request INFO lines for publishes; failures are logged here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and "/publish/" in record.getMessage())


_QUIET = _QuietPublishes()


def stream_item(channel: str, content: str, item_id: int | None = None) -> bytes:
    """One ``http-stream`` publish item as UTF-8 JSON; durable ones carry ``id``, ``prev-id``."""
    item: dict[str, object] = {"channel": channel}
    if item_id is not None:
        item["id"] = str(item_id)
        item["prev-id"] = str(item_id - 1)
    item["http-stream"] = {"content": content}
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


class _Lane:
    """The pending items of one proxy and the task that sends them."""

    def __init__(self, proxy: GripProxy) -> None:
        self.proxy = proxy
        self.pending: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.overflowing = False

    def take(self, max_bytes: int) -> list[bytes]:
        batch = [self.pending.popleft()]
        size = len(batch[0])
        while self.pending and size + len(self.pending[0]) < max_bytes:
            item = self.pending.popleft()
            batch.append(item)
            size += len(item) + 1
        return batch


class GripPublisher:
    """The ``Publisher`` port over one or more GRIP proxies.

    Publish methods only enqueue. One task per proxy sends everything pending in one
    ``POST /publish/`` (split only past ``max_batch_bytes``), one request at a time, so
    items keep their order. Failures are logged and dropped: streams recover from storage.
    """

    def __init__(
        self,
        proxies: Iterable[GripProxy],
        prefix: str = "",
        *,
        timeout: float = 5.0,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        max_pending: int = MAX_PENDING,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: ChatMetrics = NO_METRICS,
    ) -> None:
        self.prefix = prefix
        self.metrics = metrics
        self._lanes = [_Lane(proxy) for proxy in proxies]
        self._timeout = timeout
        self._max_batch_bytes = max_batch_bytes
        self._max_pending = max_pending
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._closed = False
        self.requests_sent = 0
        self.items_sent = 0
        self.items_failed = 0

    def publish_provisional(self, room: RoomId, draft: Draft) -> None:
        """Enqueue the provisional event on the room's provisional channel."""
        self._enqueue(stream_item(provisional_channel(self.prefix, room), sse_provisional(draft)))

    def publish_message(self, room: RoomId, message: Message) -> None:
        """Enqueue the durable event with ``id`` and ``prev-id`` on the messages channel."""
        channel = messages_channel(self.prefix, room)
        self._enqueue(stream_item(channel, sse_message(message), message.id))

    def publish_retraction(self, room: RoomId, provisional_id: str) -> None:
        """Enqueue the retraction on the room's provisional channel."""
        channel = provisional_channel(self.prefix, room)
        self._enqueue(stream_item(channel, sse_retraction(provisional_id)))

    def publish_close(self, channel: str) -> None:
        """Enqueue an ``http-stream`` close: the proxy ends every stream held on ``channel``."""
        item = {"channel": channel, "http-stream": {"action": "close"}}
        self._enqueue(json.dumps(item, separators=(",", ":")).encode())

    def publish_ephemeral(self, room: RoomId, sse: str) -> None:
        """Enqueue an encoded ephemeral event (typing, presence) on the provisional channel."""
        self._enqueue(stream_item(provisional_channel(self.prefix, room), sse))

    def _enqueue(self, item: bytes) -> None:
        if self._closed:
            log.warning("GRIP publisher closed; dropping an item (streams recover)")
            return
        for lane in self._lanes:
            if len(lane.pending) >= self._max_pending:
                lane.pending.popleft()
                if not lane.overflowing:
                    log.warning("%r: publish queue full; dropping oldest items", lane.proxy)
                lane.overflowing = True
            lane.pending.append(item)
            lane.wake.set()

    async def start(self) -> None:
        """Open the HTTP client and start one sending task per proxy."""
        logging.getLogger("httpx").addFilter(_QUIET)
        self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport)
        for lane in self._lanes:
            lane.task = asyncio.create_task(self._drain(lane), name=f"grip-publish {lane.proxy}")

    async def close(self, grace: float = 5.0) -> None:
        """Send what is pending (waiting at most ``grace`` seconds), then stop."""
        self._closed = True
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        for lane in self._lanes:
            lane.wake.set()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _drain(self, lane: _Lane) -> None:
        while True:
            if not lane.pending:
                if self._closed:
                    return
                lane.wake.clear()
                await lane.wake.wait()
                continue
            lane.overflowing = False
            await self._send(lane.proxy, lane.take(self._max_batch_bytes))

    async def _send(self, proxy: GripProxy, items: list[bytes]) -> None:
        assert self._client is not None
        body = b'{"items":[' + b",".join(items) + b"]}"
        headers = {"Content-Type": "application/json"}
        auth = proxy.authorization()
        if auth is not None:
            headers["Authorization"] = auth
        self.requests_sent += 1
        try:
            response = await self._client.post(proxy.publish_url, content=body, headers=headers)
            response.raise_for_status()
        except Exception as exc:
            self.items_failed += len(items)
            self.metrics.grip_publish_failed()
            log.warning("publishing %d item(s) to %r failed: %r", len(items), proxy, exc)
        else:
            self.items_sent += len(items)
