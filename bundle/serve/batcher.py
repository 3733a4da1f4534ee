"""Dynamic batching: requests that arrive within ``timeout_ms`` of the first waiting one are stacked
into one forward pass of up to ``max_batch_size`` samples (requests of the same sample shape only), run
in a worker thread, and each request gets its own slice of the result back.
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

__all__ = ["Batcher"]


class Batcher:
    """Group ``submit``ted arrays into batches for ``forward``.

    Args:
        forward: ``forward(batch)`` -> a list of arrays whose first dim is the batch.
        max_batch_size: the most samples in one forward; 1 turns batching off.
        timeout_ms: how long the first request of a batch waits for others.
        on_batch: called with each batch's size (metrics).
        arriving: how many requests are on their way to ``submit`` (being read and decoded). A batch
            waits for company while some are, or while the previous batch had company (clients that
            just got their answers send again); so a lone client does not pay the timeout.
    """

    def __init__(self, forward: Callable[[np.ndarray], list[np.ndarray]], *, max_batch_size: int = 8,
                 timeout_ms: float = 5.0, on_batch: Callable[[int], None] | None = None,
                 arriving: Callable[[], int] | None = None) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}")
        self.forward = forward
        self.max_batch_size = max_batch_size
        self.timeout = max(0.0, timeout_ms) / 1000
        self.on_batch = on_batch
        self.arriving = arriving
        # a deque and an event rather than an asyncio.Queue: an open batch waits for the event with a
        # timeout, and no timeout can take an item with it (on Python 3.11 one racing a queue.get can)
        self._waiting: collections.deque[tuple[np.ndarray, asyncio.Future]] = collections.deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-serve-model")

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def run(self, fn: Callable, *args: object) -> object:
        """Run ``fn(*args)`` on the model's thread (for work that is not batched: ``predict``)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def submit(self, array: np.ndarray) -> list[np.ndarray]:
        """The outputs for ``array`` (B, ...), computed in some batch."""
        if self._wake is None:
            raise RuntimeError("the batcher is not started")
        if array.shape[0] >= self.max_batch_size:  # already a full batch: run it alone
            return await self._forward([array])
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((array, future))
        self._wake.set()
        return await future

    async def _forward(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        batch = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        if self.on_batch:
            self.on_batch(batch.shape[0])
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.forward, batch)

    async def _loop(self) -> None:
        assert self._wake is not None
        waiting, wake = self._waiting, self._wake
        alone = True  # the previous batch was one request
        while True:
            if not waiting:
                wake.clear()
                await wake.wait()
                continue
            first = waiting.popleft()
            group = [first]
            size = first[0].shape[0]
            deadline = time.monotonic() + self.timeout
            while size < self.max_batch_size:
                if not waiting:
                    left = deadline - time.monotonic()
                    if left <= 0 or (alone and self.arriving is not None and self.arriving() == 0):
                        break  # the window is over, or nobody else is coming: do not wait it out
                    wake.clear()
                    try:
                        await asyncio.wait_for(wake.wait(), left)
                    except asyncio.TimeoutError:
                        pass
                    continue
                item = waiting[0]
                if item[0].shape[1:] != first[0].shape[1:] or size + item[0].shape[0] > self.max_batch_size:
                    break  # it starts the next batch
                waiting.popleft()
                group.append(item)
                size += item[0].shape[0]
            alone = len(group) == 1
            live = [(a, f) for a, f in group if not f.done()]  # a caller that went away is skipped
            if not live:
                continue
            try:
                outs = await self._forward([a for a, _ in live])
            except Exception as err:  # noqa: BLE001 - handed to every caller of the batch
                for _, f in live:
                    if not f.done():
                        f.set_exception(err)
                continue
            start = 0
            for array, future in live:
                n = array.shape[0]
                if not future.done():
                    future.set_result([o[start:start + n] for o in outs])
                start += n
