"""``Grip-Sig`` validation: is this request really coming through our GRIP proxy?"""

from __future__ import annotations

from collections.abc import Iterable

from gripcontrol import validate_sig


class GripSigValidator:
    """Accepts a ``Grip-Sig`` JWT that validates (signature and expiry) with any proxy's key."""

    def __init__(self, keys: Iterable[bytes | str]) -> None:
        self._keys = tuple(dict.fromkeys(keys))

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured."""
        return bool(self._keys)

    def is_valid(self, token: str | None) -> bool:
        """True when ``token`` is a current JWT signed with a configured key."""
        if not token:
            return False
        return any(validate_sig(token, key) for key in self._keys)
