"""A bulkhead: at most `limit` calls in flight to one downstream service. A call that finds no
free slot within `wait_s` is refused at once (`BulkheadFull`) instead of queueing behind a slow
service and tying up the caller's own capacity with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.kernel.errors import NotSent


class BulkheadFull(NotSent):
    """Refused without calling: every slot for that downstream service is taken."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(service, operation, "bulkhead full")


class Bulkhead:
    def __init__(self, service: str, limit: int, wait_s: float) -> None:
        self.service = service
        self._slots = asyncio.Semaphore(limit)
        self._wait_s = wait_s

    @contextlib.asynccontextmanager
    async def slot(self, operation: str) -> AsyncIterator[None]:
        if self._slots.locked() and self._wait_s <= 0:
            raise BulkheadFull(self.service, operation)
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait_s or None)
        except TimeoutError:
            raise BulkheadFull(self.service, operation) from None
        try:
            yield
        finally:
            self._slots.release()
