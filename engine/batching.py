"""Which questions go into the next forward pass (no torch: plain bookkeeping, tested on its own).

Questions wait longest first (an out-of-memory error then shows up in the first batch, and each
batch pads little). A batch takes questions from the head while ``count x longest <= budget``.
With several CPU workers the last batches shrink, so that every worker gets a share of what is
left and they finish together, instead of one worker running the final full batch alone while
the other cores idle (on a short run that tail was a quarter of the wall time).

Questions may belong to a group that shares a passage (its keys and values are computed once for
the group, so the group's questions must share a batch). A group's questions wait in a queue of
their own and go out together; the next batch comes from whichever queue has the longest
question at its head, counting a group's passage until its first batch, so the order stays
longest first. A group too large for one batch is finished before any other batch starts, so
only one passage waits in memory for more of its questions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any


class BatchQueue:
    """Question indices still to run, cut into batches by a padded-token budget.

    ``cost[i]`` is the number of tokens question ``i`` needs computed (its prompt less any shared
    prefix); ``order`` must be sorted by decreasing cost. ``group[i]`` (optional) is the group of
    question ``i``, or -1: a batch holds questions of one group only, or of none; ``setup[g]`` the
    tokens group ``g``'s first batch runs once before its questions (its passage).
    """

    def __init__(self, order: Sequence[int], cost: Sequence[int], budget: int, workers: int = 1,
                 group: Sequence[int] | None = None, setup: Sequence[int] = ()):
        self._group = group
        self._setup = dict(enumerate(setup))  # a group's one-off tokens, until its first batch
        self._queues: dict[int, deque[int]] = {}
        for i in order:
            self._queues.setdefault(self._key(i), deque()).append(i)
        self._open: dict[int, None] = {}  # groups with questions left after their first batch
        self._cost = cost
        self.budget = max(1, int(budget))
        self.workers = max(1, int(workers))
        self._left = sum(cost[i] for i in order) + sum(setup)

    def __bool__(self) -> bool:
        return any(self._queues.values())

    def _key(self, i: int) -> int:
        return self._group[i] if self._group is not None else -1

    def _target(self) -> int:
        """Padded tokens for the next batch: the budget, or a worker's share of what is left."""
        if self.workers == 1:
            return self.budget
        share = -(-self._left // self.workers)
        return min(self.budget, max(self.budget // 4, share))

    def take(self) -> list[int]:
        """The next batch (at least one question)."""
        if self._open:  # a group whose passage is computed and kept: finish it first
            key = next(iter(self._open))
        else:
            key = max((k for k, q in self._queues.items() if q),
                      key=lambda k: self._cost[self._queues[k][0]] + self._setup.get(k, 0))
        queue = self._queues[key]
        size = max(1, self._target() // max(1, self._cost[queue[0]]))
        batch = [queue.popleft() for _ in range(min(size, len(queue)))]
        self._left -= sum(self._cost[i] for i in batch) + self._setup.pop(key, 0)
        if key >= 0 and queue:
            self._open[key] = None
        else:
            self._open.pop(key, None)
        return batch

    def put_back(self, batch: Sequence[int]) -> None:
        """Return a batch that did not run to the head of the queue (order kept)."""
        key = self._key(batch[0])
        self._queues[key].extendleft(reversed(batch))
        if key >= 0:
            self._open[key] = None
        self._left += sum(self._cost[i] for i in batch)

    def halve_budget_below(self, batch: Sequence[int]) -> int:
        """After ``batch`` ran out of memory: a budget of half its padded size (at least 1)."""
        self.budget = max(1, (len(batch) * max(self._cost[i] for i in batch)) // 2)
        return self.budget


class InlineExecutor:
    """The ``submit`` of an executor, run at once in the calling thread (one worker, or a GPU)."""

    def submit(self, fn: Any, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as err:  # noqa: BLE001 - handed to the caller like a pool would
            future.set_exception(err)
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass
