"""GRIP proxies named by ``GRIP_URL``: control endpoints, publish auth, channel names."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from gripcontrol import parse_grip_uri

JWT_LIFETIME_SECONDS = 3600
ZMQ_PARAMETER = "zmq"


class GripConfigError(ValueError):
    """A ``GRIP_URL`` entry cannot be used."""


@dataclass(frozen=True, slots=True)
class GripProxy:
    """One proxy: where to publish, how to authenticate, which key signs ``Grip-Sig``."""

    control_uri: str
    issuer: str | None = None
    key: bytes | str | None = None
    verify_key: bytes | str | None = None
    zmq_uri: str | None = None

    @property
    def publish_url(self) -> str:
        """The proxy's ``POST /publish/`` endpoint."""
        base, _, query = self.control_uri.partition("?")
        return f"{base}/publish/" + (f"?{query}" if query else "")

    @property
    def sig_key(self) -> bytes | str | None:
        """The key that ``Grip-Sig`` tokens from this proxy are signed with."""
        return self.verify_key if self.verify_key is not None else self.key

    def authorization(self) -> str | None:
        """The ``Authorization`` header for publishing (JWT with ``iss``, else bearer key)."""
        if self.key is None:
            return None
        if self.issuer is None:
            key = self.key.decode() if isinstance(self.key, bytes) else self.key
            return f"Bearer {key}"
        claims = {"iss": self.issuer, "exp": int(time.time()) + JWT_LIFETIME_SECONDS}
        return f"Bearer {jwt.encode(claims, self.key, algorithm='HS256')}"

    def __repr__(self) -> str:
        return f"GripProxy({self.control_uri!r})"


def parse_grip_url(url: str) -> GripProxy:
    """Parse one ``GRIP_URL`` entry (``key=base64:...`` allowed) with gripcontrol.

    ``zmq=tcp://127.0.0.1:PORT`` (or ``zmq=ipc:///path``) names a local Pushpin's
    ZeroMQ publish input (``push_in_spec``); publishes then go there instead of HTTP.
    """
    if not url.startswith(("http://", "https://")):
        raise GripConfigError(f"GRIP_URL entries must be http(s) URLs (got {url!r})")
    url, zmq_uri = _split_zmq(url)
    parsed = parse_grip_uri(url)
    proxy = GripProxy(
        control_uri=parsed["control_uri"],
        issuer=parsed.get("control_iss"),
        key=parsed.get("key") or None,
        verify_key=parsed.get("verify_key") or None,
        zmq_uri=zmq_uri,
    )
    if not proxy.sig_key:
        raise GripConfigError(
            f"{proxy.control_uri}: needs key= (raw or base64:...) to validate Grip-Sig; "
            "an empty or undecodable key was given or none at all"
        )
    return proxy


def _split_zmq(url: str) -> tuple[str, str | None]:
    """The URL without its ``zmq=`` parameter, and that parameter (checked), if any."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    found = [value for name, value in query if name == ZMQ_PARAMETER]
    if not found:
        return url, None
    if len(found) > 1:
        raise GripConfigError(f"{parts.netloc}: give zmq= at most once")
    rest = urlencode([(name, value) for name, value in query if name != ZMQ_PARAMETER])
    return urlunsplit(parts._replace(query=rest)), check_zmq_uri(found[0])


def check_zmq_uri(uri: str) -> str:
    """``uri`` when it is ``ipc://PATH`` or ``tcp://`` on a loopback address, else raise.

    Pushpin's ZeroMQ publish input has no authentication, so it must stay on this host.
    """
    if uri.startswith("ipc://") and len(uri) > len("ipc://"):
        return uri
    host, _, port = uri.removeprefix("tcp://").rpartition(":")
    host = host.strip("[]")
    if not uri.startswith("tcp://") or not port.isdigit() or not 0 < int(port) < 65536:
        raise GripConfigError(f"zmq={uri!r}: expected tcp://127.0.0.1:PORT or ipc:///PATH")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise GripConfigError(f"zmq={uri!r}: only a loopback address (or ipc://) is allowed")
    return uri
