"""The dynamic batcher alone: grouping within the window, routing each slice back, shapes kept apart,
a failing forward reported to every caller of its batch, a cancelled caller skipped, waiting for
company only while some may come."""

from __future__ import annotations

import asyncio

import pytest

np = pytest.importorskip("numpy")

from bundle.serve.batcher import Batcher


def _run(coro):
    return asyncio.run(coro)


def test_groups_routes_and_keeps_shapes_apart():
    sizes = []

    def forward(batch):
        return [batch * 2, batch.sum(axis=tuple(range(1, batch.ndim)))]

    async def main():
        batcher = Batcher(forward, max_batch_size=8, timeout_ms=50, on_batch=sizes.append)
        batcher.start()
        small = [np.full((1, 2), i, np.float32) for i in range(6)]
        other = [np.full((2, 3), 10 + i, np.float32) for i in range(2)]
        results = await asyncio.gather(*(batcher.submit(x) for x in small + other))
        await batcher.stop()
        return small + other, results

    inputs, results = _run(main())
    for x, (double, total) in zip(inputs, results):
        assert np.array_equal(double, x * 2) and np.array_equal(total, x.sum(axis=1))
    assert sum(sizes) == 10 and len(sizes) == 2  # six (1, 2) in one forward, two (2, 3) in another


def test_failing_forward_reaches_every_caller_and_the_batcher_goes_on():
    calls = []

    def forward(batch):
        calls.append(batch.shape[0])
        if len(calls) == 1:
            raise RuntimeError("boom")
        return [batch]

    async def main():
        batcher = Batcher(forward, max_batch_size=4, timeout_ms=50)
        batcher.start()
        first = await asyncio.gather(*(batcher.submit(np.zeros((1, 1))) for _ in range(3)), return_exceptions=True)
        second = await batcher.submit(np.ones((1, 1)))
        await batcher.stop()
        return first, second

    first, second = _run(main())
    assert all(isinstance(e, RuntimeError) for e in first) and second[0][0, 0] == 1


def _lone(seen, timeout_ms):
    """A started batcher that records its batch sizes, with nobody ever arriving."""
    batcher = Batcher(lambda b: seen.append(b.shape[0]) or [b], max_batch_size=4, timeout_ms=timeout_ms,
                      arriving=lambda: 0)
    batcher.start()
    return batcher


async def _timed(batcher):
    loop = asyncio.get_running_loop()
    start = loop.time()
    out = await batcher.submit(np.ones((1, 1)))
    return out, loop.time() - start


def test_cancelled_caller_is_skipped_and_lone_request_does_not_wait():
    seen = []

    async def main():
        batcher = _lone(seen, timeout_ms=10_000)
        out, took = await _timed(batcher)  # nobody else arriving: no 10 s wait
        task = asyncio.ensure_future(batcher.submit(np.ones((1, 1))))
        task.cancel()
        await asyncio.sleep(0.05)
        await batcher.stop()
        return out, took

    out, took = _run(main())
    assert out[0].shape == (1, 1) and took < 5 and seen == [1]


def test_after_a_shared_batch_a_lone_request_waits_for_company():
    seen = []

    async def main():
        batcher = _lone(seen, timeout_ms=200)
        await asyncio.gather(*(batcher.submit(np.ones((1, 1))) for _ in range(2)))  # a batch of 2
        took = [(await _timed(batcher))[1] for _ in range(2)]
        await batcher.stop()
        return took

    took = _run(main())
    # the first lone request after the shared batch waits the window; alone once, the next does not
    assert seen == [2, 1, 1] and took[0] >= 0.15 and took[1] < 0.1
