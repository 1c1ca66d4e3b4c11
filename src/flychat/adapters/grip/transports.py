"""How publish items reach one proxy: HTTP ``POST /publish/``, or a local Pushpin's ZeroMQ input."""

from __future__ import annotations

import logging
import time

import httpx
import zmq

from flychat.adapters.grip.proxy import JWT_LIFETIME_SECONDS, GripProxy


class PublishError(RuntimeError):
    """The proxy did not take an item (it is dropped; streams recover from storage)."""


class _QuietPublishes(logging.Filter):
    """Drops httpx's per-request INFO lines for publishes; failures are logged by the publisher."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and "/publish/" in record.getMessage())


_QUIET = _QuietPublishes()


class HttpTransport:
    """``POST /publish/`` with ``{"items": [...]}``, one request at a time.

    The ``Authorization`` JWT is signed once and reused until half its lifetime has passed.
    """

    def __init__(self, proxy: GripProxy, client: httpx.AsyncClient) -> None:
        self.proxy = proxy
        self._client = client
        self._auth: str | None = None
        self._auth_until = 0.0

    def _authorization(self) -> str | None:
        now = time.monotonic()
        if self._auth is None or now >= self._auth_until:
            self._auth = self.proxy.authorization()
            self._auth_until = now + JWT_LIFETIME_SECONDS / 2
        return self._auth

    async def send(self, items: list[bytes]) -> None:
        """One request carrying every item; a non-2xx answer raises."""
        body = b'{"items":[' + b",".join(items) + b"]}"
        headers = {"Content-Type": "application/json"}
        auth = self._authorization()
        if auth is not None:
            headers["Authorization"] = auth
        response = await self._client.post(self.proxy.publish_url, content=body, headers=headers)
        response.raise_for_status()


class ZmqTransport:
    """A ZeroMQ PUSH socket connected to Pushpin's ``push_in_spec`` (its PULL socket).

    Each item is one message, ``J`` + the item's JSON, handed to ZeroMQ's I/O thread
    without blocking (ZeroMQ batches what is pending into its TCP writes). Order is
    kept: one socket, one peer. Up to ``high_water_mark`` messages wait while Pushpin
    is unreachable; beyond that ``send`` raises and the item is dropped.
    """

    def __init__(
        self, proxy: GripProxy, context: zmq.Context[zmq.Socket[bytes]], high_water_mark: int
    ) -> None:
        assert proxy.zmq_uri is not None
        self.proxy = proxy
        self._socket: zmq.Socket[bytes] = context.socket(zmq.PUSH)
        self._socket.setsockopt(zmq.SNDHWM, high_water_mark)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(proxy.zmq_uri)

    def send(self, item: bytes) -> None:
        """Queue one message in ZeroMQ; raise ``PublishError`` when its queue is full."""
        try:
            self._socket.send(b"J" + item, zmq.NOBLOCK)
        except zmq.Again:
            raise PublishError("ZeroMQ send queue full (is Pushpin running?)") from None

    def close(self, grace: float) -> None:
        """Close the socket; its queued messages get ``grace`` seconds when the context ends."""
        self._socket.setsockopt(zmq.LINGER, max(0, int(grace * 1000)))
        self._socket.close()


def quiet_httpx_publish_logs() -> None:
    """Keep httpx from logging one INFO line per publish request."""
    logging.getLogger("httpx").addFilter(_QUIET)
