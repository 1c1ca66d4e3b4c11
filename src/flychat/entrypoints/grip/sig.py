"""``Grip-Sig`` validation: is this request really coming through our GRIP proxy?"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt

ALGORITHMS = ("HS256", "RS256", "ES256")
"""What gripcontrol's ``validate_sig`` accepts (Pushpin signs HS256 with its ``sig_key``)."""
REMEMBERED_TOKENS = 256


class GripSigValidator:
    """Accepts a ``Grip-Sig`` JWT that validates (signature and expiry) with any proxy's key.

    A proxy signs the same claims (issuer, expiry in whole seconds) for every request
    of a second, so a token seen valid before is remembered until it expires: checking
    its signature again (0.1 ms each) would prove nothing new. At most
    ``REMEMBERED_TOKENS`` are kept.
    """

    def __init__(self, keys: Iterable[bytes | str], clock: Callable[[], float] = time.time) -> None:
        self._keys = tuple(dict.fromkeys(keys))
        self._clock = clock
        self._valid_until: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured."""
        return bool(self._keys)

    def is_valid(self, token: str | None) -> bool:
        """True when ``token`` is a current JWT signed with a configured key."""
        if not token:
            return False
        until = self._valid_until.get(token)
        if until is None:
            until = self._verified_expiry(token)
            if until is None:
                return False
            if len(self._valid_until) >= REMEMBERED_TOKENS:
                self._valid_until.clear()
            self._valid_until[token] = until
        if self._clock() < until:
            return True
        del self._valid_until[token]
        return False

    def _verified_expiry(self, token: str) -> float | None:
        """The ``exp`` of a token signed with a configured key (any failure: None)."""
        options: Any = {"verify_exp": False, "require": ["exp"]}
        for key in self._keys:
            try:
                exp = jwt.decode(token, key, algorithms=list(ALGORITHMS), options=options)["exp"]
            except Exception:
                continue
            return float(exp) if isinstance(exp, int | float) else None
        return None
