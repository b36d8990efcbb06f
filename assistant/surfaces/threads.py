"""Answers run on threads of their own, never on the event loop nor on the threadpool every other
route shares.

An answer can hold its thread for as long as the LLM takes (seconds, up to ``llm_timeout``); in
Starlette's shared threadpool (40 threads) forty such waits would stall searches, the web page and
even ``/healthz``. The answer routes are ``async`` and hand the service call, or each step of a
streamed answer, to this separate bounded pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from anyio import CapacityLimiter, to_thread

T = TypeVar("T")
_DONE = object()


class AnswerThreads:
    def __init__(self, size: int):
        self.limiter = CapacityLimiter(size)

    async def run(self, call: Callable[..., T], *args) -> T:
        return await to_thread.run_sync(call, *args, limiter=self.limiter)

    async def iterate(self, iterator: Iterator[T]) -> AsyncIterator[T]:
        """A blocking iterator (a streamed answer) stepped on these threads."""
        while (item := await to_thread.run_sync(next, iterator, _DONE, limiter=self.limiter)) is not _DONE:
            yield item
