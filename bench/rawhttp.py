"""A minimal HTTP/1.1 keep-alive client over asyncio streams, for load generation.

httpx costs far more CPU per request than the servers under test spend answering
it; this client builds each request as one bytes object and parses just enough of
the response (status, Content-Length or chunked) to reuse the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote_plus

# Headers a browser's fetch() sends with a form POST; identical for every target.
BROWSER_HEADERS = (
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("Accept", "application/json"),
    ("Accept-Language", "en-US,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Connection", "keep-alive"),
)


def form_body(fields: Mapping[str, str]) -> bytes:
    """``application/x-www-form-urlencoded`` as a browser encodes it."""
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in fields.items()).encode()


def post_request(
    host: str,
    port: int,
    path: str,
    body: bytes,
    origin: bool = True,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A complete form POST request, headers (plus ``extra``) and body."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in BROWSER_HEADERS]
    lines += [f"{name}: {value}" for name, value in extra]
    if origin:
        lines.append(f"Origin: http://{host}:{port}")
    lines.append("Content-Type: application/x-www-form-urlencoded")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get_request(host: str, port: int, path: str, accept: str = "*/*") -> bytes:
    """A GET request with the given Accept header."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", f"Accept: {accept}"]
    lines += [f"{n}: {v}" for n, v in BROWSER_HEADERS if n not in ("Accept", "Accept-Encoding")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class HttpError(Exception):
    """The server's answer could not be parsed or the connection broke."""

    def __init__(self, message: str, before_answer: bool = False) -> None:
        super().__init__(message)
        self.before_answer = before_answer


def _headers(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    status_line = lines[0]
    if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12:
        raise HttpError(f"bad status line {status_line[:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line[9:12]), headers


class Connection:
    """One keep-alive connection; ``request`` sends a full request and reads the answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 20
            )
        return self._reader, self._writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw``; return the status and the body.

        A reused connection that the server closed while idle (keep-alive timeout)
        fails before any answer byte: then the request is sent once more on a new
        connection, as browsers do (flychat's POSTs are idempotent on provisionalId).
        """
        reused = self._writer is not None
        try:
            return await self._exchange(raw)
        except HttpError as exc:
            if not (reused and exc.before_answer):
                raise
        return await self._exchange(raw)

    async def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        reader, writer = await self._open()
        answered = False
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            answered = True
            status, headers = _headers(head)
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = b"".join([chunk async for chunk in _chunks(reader)])
            else:
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}", before_answer=not answered) from None
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, body

    def close(self) -> None:
        """Close the socket (the next request reconnects)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The data of a chunked body, chunk by chunk, until the last (empty) chunk."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def open_stream(
    host: str, port: int, path: str, accept: str = "text/event-stream"
) -> tuple[int, AsyncIterator[bytes], asyncio.StreamWriter]:
    """Start a streaming GET; return the status, the body chunks and the writer (to close)."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.write(get_request(host, port, path, accept))
    head = await reader.readuntil(b"\r\n\r\n")
    status, headers = _headers(head)

    async def body() -> AsyncIterator[bytes]:
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            async for chunk in _chunks(reader):
                yield chunk
            return
        length = headers.get(b"content-length")
        if length is not None:
            yield await reader.readexactly(int(length))
            return
        while data := await reader.read(65536):
            yield data

    return status, body(), writer
