"""Which questions go into the next forward pass (no torch: plain bookkeeping, tested on its own).

Questions wait longest first (an out-of-memory error then shows up in the first batch, and each
batch pads little). A batch takes questions from the head while ``count x longest <= budget``.
With several CPU workers the last batches shrink, so that every worker gets a share of what is
left and they finish together, instead of one worker running the final full batch alone while
the other cores idle (on a short run that tail was a quarter of the wall time).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any


class BatchQueue:
    """Question indices still to run, cut into batches by a padded-token budget.

    ``cost[i]`` is the number of tokens question ``i`` needs computed (its prompt less any shared
    prefix); ``order`` must be sorted by decreasing cost.
    """

    def __init__(self, order: Sequence[int], cost: Sequence[int], budget: int, workers: int = 1):
        self._queue: deque[int] = deque(order)
        self._cost = cost
        self.budget = max(1, int(budget))
        self.workers = max(1, int(workers))
        self._left = sum(cost[i] for i in order)

    def __bool__(self) -> bool:
        return bool(self._queue)

    def _target(self) -> int:
        """Padded tokens for the next batch: the budget, or a worker's share of what is left."""
        if self.workers == 1:
            return self.budget
        share = -(-self._left // self.workers)
        return min(self.budget, max(self.budget // 4, share))

    def take(self) -> list[int]:
        """The next batch (at least one question)."""
        size = max(1, self._target() // max(1, self._cost[self._queue[0]]))
        batch = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
        self._left -= sum(self._cost[i] for i in batch)
        return batch

    def put_back(self, batch: Sequence[int]) -> None:
        """Return a batch that did not run to the head of the queue (order kept)."""
        self._queue.extendleft(reversed(batch))
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
