"""PromptGrid: Flower's grid, asked for replies every poll_interval seconds, with Flower's own
``pull_objects`` given a short first backoff only while it pulls."""

from __future__ import annotations

import functools
import time
from types import SimpleNamespace

import pytest

pytest.importorskip("flwr")


def pull_objects(*args, initial_backoff=1, backoff_cap=10):  # stands in for Flower's, looked up by module
    return initial_backoff, backoff_cap


class FakeGrid:
    """Replies arrive after a few pulls; records what ``pull_objects`` was while it pulled."""

    def __init__(self, ready_after: dict[str, int]):
        self.ready_after = ready_after
        self.pulls = 0
        self.seen_pull_objects = []

    def push_messages(self, messages):
        return list(messages)

    def pull_messages(self, message_ids):
        self.pulls += 1
        self.seen_pull_objects.append(globals()["pull_objects"])
        return [SimpleNamespace(metadata=SimpleNamespace(reply_to_message_id=i))
                for i in sorted(message_ids) if self.ready_after[i] <= self.pulls]


def test_replies_are_collected_as_they_come_with_a_short_backoff():
    from bundle.fl.flower import PromptGrid

    inner = FakeGrid({"a": 1, "b": 3})
    started = time.monotonic()
    replies = PromptGrid(inner, poll_interval=0.01).send_and_receive(["a", "b"], timeout=10)
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["a", "b"]
    assert inner.pulls == 3 and time.monotonic() - started < 1
    used = inner.seen_pull_objects[0]
    assert isinstance(used, functools.partial) and used() == (0.01, 1.0)
    assert globals()["pull_objects"] is pull_objects  # Flower's function is back after each pull


def test_timeout_returns_the_replies_so_far():
    from bundle.fl.flower import PromptGrid

    inner = FakeGrid({"a": 1, "b": 10**9})
    replies = PromptGrid(inner, poll_interval=0.05).send_and_receive(["a", "b"], timeout=0.3)
    assert [r.metadata.reply_to_message_id for r in replies] == ["a"]
    assert 2 <= inner.pulls <= 8
