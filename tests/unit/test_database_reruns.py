"""Transactions that met rows another process holds (`DatabaseBusy`) are run again after an
asynchronous pause, and while that goes on a process's runs take turns, one per turn of the
loop, so that a burst of them never waits on the loop one after the other."""

from __future__ import annotations

import asyncio

import pytest

from services.kernel import database
from services.kernel.database import DatabaseBusy, rerun_while_busy
from services.kernel.sqlite import open_database


class Turns:
    """Counts the loop's turns (a task that yields once per turn)."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.count += 1
            await asyncio.sleep(0)


async def test_a_busy_run_is_run_again_until_it_goes_through() -> None:
    db = open_database(":memory:", "")
    runs: list[int] = []

    async def attempt() -> str:
        runs.append(len(runs))
        if len(runs) < 3:
            raise DatabaseBusy("execute", "rows another process holds")
        return "done"

    assert await rerun_while_busy(db, attempt) == "done" and runs == [0, 1, 2]


async def test_past_its_budget_the_last_busy_is_the_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(database, "BUSY_BUDGET_S", 0.05)

    async def attempt() -> None:
        raise DatabaseBusy("execute", "rows another process holds")

    with pytest.raises(DatabaseBusy):
        await rerun_while_busy(open_database(":memory:", ""), attempt)


async def test_contended_runs_take_turns_one_per_turn_of_the_loop() -> None:
    db, turns, stop = open_database(":memory:", ""), Turns(), asyncio.Event()
    ran_at: list[int] = []

    async def caller() -> None:
        tries = [0]

        async def attempt() -> None:
            ran_at.append(turns.count)  # a run is synchronous: it holds the loop's turn
            tries[0] += 1
            if tries[0] < 3:
                raise DatabaseBusy("execute", "rows another process holds")

        await rerun_while_busy(db, attempt)

    beat = asyncio.create_task(turns.run(stop))
    await asyncio.sleep(0)
    await asyncio.gather(*(caller() for _ in range(8)))
    stop.set()
    await beat
    assert len(ran_at) == 8 * 3
    assert len(set(ran_at)) == len(ran_at)  # never two in one turn: one wait at a time
