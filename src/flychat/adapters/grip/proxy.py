"""GRIP proxies named by ``GRIP_URL``: control endpoints, publish auth, channel names."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from gripcontrol import parse_grip_uri

JWT_LIFETIME_SECONDS = 3600


class GripConfigError(ValueError):
    """A ``GRIP_URL`` entry cannot be used."""


@dataclass(frozen=True, slots=True)
class GripProxy:
    """One proxy: where to publish, how to authenticate, which key signs ``Grip-Sig``."""

    control_uri: str
    issuer: str | None = None
    key: bytes | str | None = None
    verify_key: bytes | str | None = None

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
    """Parse one ``GRIP_URL`` entry (``key=base64:...`` allowed) with gripcontrol."""
    if not url.startswith(("http://", "https://")):
        raise GripConfigError(f"GRIP_URL entries must be http(s) URLs (got {url!r})")
    parsed = parse_grip_uri(url)
    proxy = GripProxy(
        control_uri=parsed["control_uri"],
        issuer=parsed.get("control_iss"),
        key=parsed.get("key") or None,
        verify_key=parsed.get("verify_key") or None,
    )
    if not proxy.sig_key:
        raise GripConfigError(
            f"{proxy.control_uri}: needs key= (raw or base64:...) to validate Grip-Sig; "
            "an empty or undecodable key was given or none at all"
        )
    return proxy
