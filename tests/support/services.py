"""How tests treat a missing external service: skip on a user's machine, fail in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_service(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it when running in CI."""
    if in_ci():
        pytest.fail(f"required service missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)
