"""Calls to a local model take turns, and questions that queue up meanwhile share a call.

Under concurrent requests, every thread calling the embedding model at once oversubscribes the
cores: each call starts its own team of OpenMP threads, and on 2 cores twenty calls spend much of
their CPU time at the model's thread barriers instead of computing. Here at most ``slots`` calls
run at once. A thread that finds a slot free takes the questions waiting at that moment (its own
among them, up to ``max_batch``) and embeds them in one call for everyone; the threads whose
question it took just wait for their vector. A lone question goes at once: nothing waits for a
batch to fill. There is no thread of its own, so nothing to stop at shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(eq=False)
class _Item:
    text: str
    vector: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


class ModelTurns:
    """At most ``slots`` calls to one model at a time; single questions queued meanwhile share a call.

    ``embed_many`` maps texts to one vector per text (row ``i`` for ``texts[i]``); ``max_batch``
    bounds one call, so a long queue does not make one caller wait for all of it.
    """

    def __init__(self, embed_many: Callable[[list[str]], np.ndarray], max_batch: int = 32, slots: int = 1):
        self._embed_many = embed_many
        self._max_batch = max(1, max_batch)
        self._slots = max(1, slots)
        self._pending: list[_Item] = []
        self._running = 0
        self._turn = threading.Condition()

    def one(self, text: str) -> np.ndarray:
        """The vector of ``text``, embedded in a batch with whatever else is waiting."""
        item = _Item(text)
        with self._turn:
            self._pending.append(item)
            while not item.done:
                if self._running >= self._slots or item not in self._pending:
                    self._turn.wait()
                    continue
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                self._running += 1
                self._turn.release()
                try:
                    self._run(batch)
                finally:
                    self._turn.acquire()
                    self._running -= 1
                    self._turn.notify_all()
        if item.error is not None:
            raise item.error
        return item.vector

    def alone(self, call: Callable[[], T]) -> T:
        """Run ``call`` (e.g. a batch of passages) as a call of its own, in turn with the others."""
        with self._turn:
            while self._running >= self._slots:
                self._turn.wait()
            self._running += 1
        try:
            return call()
        finally:
            with self._turn:
                self._running -= 1
                self._turn.notify_all()

    def _run(self, batch: list[_Item]) -> None:
        """Embed ``batch``; each item gets its vector, or the error the call raised."""
        try:
            vectors = self._embed_many([item.text for item in batch])
            if len(vectors) != len(batch):
                raise RuntimeError(f"嵌入模型为 {len(batch)} 段文本返回了 {len(vectors)} 个向量")
            for item, vector in zip(batch, vectors):
                item.vector = vector
        except BaseException as exc:  # every waiter gets the failure, not a hang
            for item in batch:
                item.error = exc
        for item in batch:
            item.done = True
