"""The flaky-api fault: a seeded, bounded share of requests fail as overloaded apiservers do.

A failure is a 429 TooManyRequests with Retry-After: 1, a 500 InternalError, or a connection
dropped before any response. The same path never fails twice in a row, so a client that retries
named transient errors a bounded number of times always gets through -- the behaviour the suite's
retry policy must show it has.
"""

from __future__ import annotations

import random

from aiohttp import web

from ..status import InternalError, StatusError, TooManyRequestsError

SHARE = 0.15  # fraction of requests that fail


class Flaky:
    def __init__(self, seed: int, share: float = SHARE) -> None:
        self.rng = random.Random(seed)
        self.share = share
        self._failed_last: set[str] = set()
        self.failures = 0

    def decide(self, method: str, path: str) -> StatusError | str | None:
        """None: serve normally; "drop": drop the connection; else the error to answer with."""
        key = f"{method} {path}"
        if key in self._failed_last:
            self._failed_last.discard(key)
            return None
        if self.rng.random() >= self.share:
            return None
        self._failed_last.add(key)
        self.failures += 1
        pick = self.rng.random()
        if pick < 0.4:
            return TooManyRequestsError(1)
        if pick < 0.7:
            return InternalError("etcdserver: leader changed")
        return "drop"


async def drop_connection(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)  # never sent: the connection is gone
