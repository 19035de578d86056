"""Batch planning: budgets, the shrinking tail that keeps every CPU worker busy, out-of-memory."""

from __future__ import annotations

import resource

import pytest

from engine.batching import BatchQueue, InlineExecutor
from engine.cpu_memory import keep_freed_memory


def drain(queue: BatchQueue) -> list[list[int]]:
    batches = []
    while queue:
        batches.append(queue.take())
    return batches


def test_one_worker_fills_each_batch_to_the_budget() -> None:
    cost = [100, 90, 50, 50, 50, 40, 10]
    batches = drain(BatchQueue(range(7), cost, budget=200, workers=1))
    assert batches == [[0, 1], [2, 3, 4, 5], [6]]  # 2 x 100, 4 x 50, then the rest
    assert all(len(b) * max(cost[i] for i in b) <= 200 for b in batches)


def test_a_group_sharing_a_passage_shares_its_batches_and_order_stays_longest_first() -> None:
    cost = [100, 90, 80, 50, 50, 40, 30, 10]
    group = [-1, 0, -1, 0, -1, 1, 0, 1]
    batches = drain(BatchQueue(range(8), cost, budget=200, workers=1, group=group))
    assert batches == [[0, 2], [1, 3], [6], [4], [5, 7]]  # group 0 is finished once begun
    assert all(len({group[i] for i in b}) == 1 for b in batches)
    assert all(len(b) * max(cost[i] for i in b) <= 200 for b in batches)
    queue = BatchQueue(range(8), cost, budget=200, workers=1, group=group)
    queue.take()
    second = queue.take()
    queue.put_back(second)  # after an out-of-memory error: back to its own group's queue
    assert queue.take() == second


def test_a_groups_passage_counts_until_its_first_batch() -> None:
    cost, group = [100, 90, 30, 20, 20], [-1, -1, 0, 0, 0]
    # the group's 400-token passage runs with its first batch, so that batch goes first
    batches = drain(BatchQueue(range(5), cost, budget=40, workers=1, group=group, setup=[400]))
    assert batches == [[2], [3, 4], [0], [1]]


def test_a_question_longer_than_the_budget_runs_alone() -> None:
    assert drain(BatchQueue([0, 1], [500, 400], budget=100)) == [[0], [1]]


def makespan(batches: list[list[int]], cost: list[int], workers: int) -> int:
    """Finish time when each batch goes to the first free worker and takes its padded tokens."""
    free = [0] * workers
    for b in batches:
        w = free.index(min(free))
        free[w] += len(b) * max(cost[i] for i in b)
    return max(free)


def test_with_two_workers_the_tail_is_split_so_both_finish_together() -> None:
    cost = [64] * 40  # 2560 tokens: 1280 per worker at best
    plain = drain(BatchQueue(range(40), cost, budget=512, workers=1))
    split = drain(BatchQueue(range(40), cost, budget=512, workers=2))
    assert [len(b) for b in plain] == [8, 8, 8, 8, 8]  # the fifth runs while the other core idles
    assert [len(b) for b in split] == [8, 8, 8, 8, 4, 2, 2]
    assert makespan(plain, cost, 2) == 1536
    assert makespan(split, cost, 2) == 1280
    assert sorted(i for b in split for i in b) == list(range(40))


def test_the_tail_never_shrinks_below_a_quarter_budget() -> None:
    cost = [10] * 100
    batches = drain(BatchQueue(range(100), cost, budget=400, workers=2))
    assert min(len(b) for b in batches[:-1]) * 10 >= 100


def test_put_back_and_halving_after_out_of_memory() -> None:
    cost = [100, 100, 100, 100]
    queue = BatchQueue(range(4), cost, budget=400)
    first = queue.take()
    assert first == [0, 1, 2, 3] and not queue
    queue.put_back(first)
    assert queue.halve_budget_below(first) == 200
    assert drain(queue) == [[0, 1], [2, 3]]
    single = BatchQueue([0], [100], budget=100)
    assert single.halve_budget_below(single.take()) == 50


def test_inline_executor_returns_results_and_errors_as_futures() -> None:
    ex = InlineExecutor()
    assert ex.submit(lambda a, b: a + b, 2, 3).result() == 5
    with pytest.raises(ZeroDivisionError):
        ex.submit(lambda: 1 / 0).result()


def test_freed_memory_is_reused_without_new_page_faults() -> None:
    assert keep_freed_memory() is True  # glibc on Linux (CI and HPC nodes)

    def touch_64mb() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = bytearray(64 << 20)  # zero-filled: every page is touched
        block[-1] = 1
        del block
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    touch_64mb()
    # glibc's own settings always mmap a block this large (above its 32 MB dynamic limit) and
    # unmap it on free, so all 16384 pages would fault again
    assert touch_64mb() < 1024
