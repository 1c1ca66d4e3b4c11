"""Ending GRIP streams whose token expired: a close on each expiry slot's channel as it ends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from flychat.domain.access import EXPIRY_SLOT_SECONDS, slots_ended
from flychat.domain.channels import expiry_channel

log = logging.getLogger(__name__)


class Closer(Protocol):
    """What the closer needs from a GRIP publisher."""

    def publish_close(self, channel: str) -> None: ...


class ExpiryCloser:
    """Publishes a close on ``{prefix}expiry-{slot}`` each time a slot ends.

    Stateless: any number of app processes may run one; closing a slot twice is harmless.
    """

    def __init__(
        self,
        publisher: Closer,
        prefix: str = "",
        *,
        slot_seconds: int = EXPIRY_SLOT_SECONDS,
        clock: Callable[[], float] = time.time,
        delay: float = 0.05,
    ) -> None:
        self._publisher = publisher
        self._prefix = prefix
        self._slot = slot_seconds
        self._clock = clock
        self._delay = delay
        self._task: asyncio.Task[None] | None = None

    def close_ended(self) -> tuple[int, ...]:
        """Publish the closes of the slots that have ended by now; return their numbers."""
        slots = slots_ended(self._clock(), self._slot)
        for slot in slots:
            self._publisher.publish_close(expiry_channel(self._prefix, slot))
        return slots

    def start(self) -> None:
        """Start closing slots in the background."""
        self._task = asyncio.create_task(self._run(), name="grip-expiry-closer")

    async def stop(self) -> None:
        """Stop the background task."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            now = self._clock()
            next_boundary = (now // self._slot + 1) * self._slot
            await asyncio.sleep(next_boundary - now + self._delay)
            try:
                self.close_ended()
            except Exception:
                log.exception("publishing expiry closes failed")
