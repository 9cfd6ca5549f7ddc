"""The open model's schedule: task k is due at start + k / rate, each slot handed out once."""

from __future__ import annotations

import threading
import time

import pytest

from harness.load.pacing import OpenArrivals, Surge, process_share

START = 1_700_000_000.0  # a fixed epoch start, so the due times are known exactly


def test_the_slots_are_handed_out_in_order_one_interval_apart() -> None:
    arrivals = OpenArrivals(4.0, start=START)
    assert [arrivals.take() for _ in range(6)] == [
        START,
        START + 0.25,
        START + 0.5,
        START + 0.75,
        START + 1.0,
        START + 1.25,
    ]


def test_the_due_time_of_slot_k_is_start_plus_k_over_rate() -> None:
    arrivals = OpenArrivals(3.0, start=START)
    taken = [arrivals.take() for _ in range(1000)]
    assert taken == pytest.approx([START + k / 3.0 for k in range(1000)], abs=1e-6)


def test_a_fractional_rate_spaces_the_slots_further_apart() -> None:
    arrivals = OpenArrivals(0.5, start=START)
    assert [arrivals.take() for _ in range(3)] == [START, START + 2.0, START + 4.0]


def test_without_a_start_the_schedule_starts_now() -> None:
    before = time.time()
    first = OpenArrivals(10.0).take()
    assert before <= first <= time.time()


def test_many_threads_taking_at_once_never_get_the_same_slot() -> None:
    threads, takes = 8, 200
    arrivals = OpenArrivals(1.0, start=0.0)  # slot k is due at exactly k
    barrier = threading.Barrier(threads)
    taken: list[list[float]] = [[] for _ in range(threads)]

    def take_all(mine: list[float]) -> None:
        barrier.wait()
        for _ in range(takes):
            mine.append(arrivals.take())

    workers = [threading.Thread(target=take_all, args=(mine,)) for mine in taken]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers)
    every = sorted(slot for mine in taken for slot in mine)
    assert every == [float(k) for k in range(threads * takes)]  # distinct and contiguous
    assert all(mine == sorted(mine) for mine in taken)  # each thread's slots only move on


@pytest.mark.parametrize("rate", [0.0, -1.0, -0.001])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        OpenArrivals(rate, start=START)


@pytest.mark.parametrize(
    ("rate", "processes", "share"),
    [(100.0, 1, 100.0), (100.0, 4, 25.0), (90.0, 3, 30.0), (10.0, 4, 2.5)],
)
def test_each_process_keeps_an_even_share_of_the_rate(
    rate: float, processes: int, share: float
) -> None:
    assert process_share(rate, processes) == pytest.approx(share)


@pytest.mark.parametrize("processes", [0, -1, -8])
def test_no_processes_counts_as_one(processes: int) -> None:
    assert process_share(50.0, processes) == 50.0


def test_arrivals_no_user_took_are_listed_up_to_the_end() -> None:
    arrivals = OpenArrivals(10.0, start=100.0)
    for _ in range(3):
        arrivals.take()  # 100.0, 100.1, 100.2 were taken
    never = arrivals.never_taken(until=101.0)
    assert never == pytest.approx([100.0 + k / 10 for k in range(3, 11)])
    assert arrivals.never_taken(until=100.15) == []  # nothing due that was not taken


def test_a_surge_multiplies_the_arrivals_inside_its_window_only() -> None:
    surge = Surge(at_s=2.0, duration_s=1.0, factor=4.0)
    arrivals = OpenArrivals(2.0, start=0.0, surge=surge)
    taken = [arrivals.take() for _ in range(11)]
    # 2/s before, 8/s from 2 s to 3 s, 2/s again after: 4 + 8 + the rest.
    assert taken == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.125, 2.25, 2.375, 2.5, 2.625, 2.75])
    later = [arrivals.take() for _ in range(4)]
    assert later == pytest.approx([2.875, 3.0, 3.5, 4.0])


def test_a_surge_counts_the_arrivals_never_taken_at_its_own_rate() -> None:
    arrivals = OpenArrivals(2.0, start=0.0, surge=Surge(2.0, 1.0, 4.0))
    assert len(arrivals.never_taken(until=3.0)) == 4 + 8 + 1  # slots 0..12 are due by 3 s
    assert len(arrivals.never_taken(until=4.0)) == 4 + 8 + 3


def test_a_surge_is_read_from_the_locust_option() -> None:
    assert Surge.parse("15,10,4") == Surge(15.0, 10.0, 4.0)
    with pytest.raises(ValueError, match="AT,DURATION,FACTOR"):
        Surge.parse("15s,10")
