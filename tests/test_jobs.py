"""Periodic jobs: one run per tick across processes, failures contained, runnable by hand."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from shop import jobs
from shop.__main__ import main


@pytest.fixture
def counting_job():
    """A job counting its runs; its name is new per test, as tick claims outlive a test in Redis."""
    calls: list[int] = []
    name = f"test-counting-{secrets.token_hex(4)}"

    def count() -> int:
        calls.append(1)
        return len(calls)

    jobs.periodic(name, every=timedelta(minutes=10))(count)
    yield name, calls
    jobs.JOBS.pop(name, None)


def test_a_tick_is_claimed_once(shop_env, counting_job):
    # given a job that nobody ran yet
    # when two processes' schedulers fire for the same tick
    name, calls = counting_job
    first = jobs.run_job(name)
    second = jobs.run_job(name)
    # then only one of them runs it
    assert first == 1
    assert second is None
    assert calls == [1]


def test_a_run_by_hand_ignores_the_tick(shop_env, counting_job):
    # given a tick already taken by the scheduler
    name, _calls = counting_job
    jobs.run_job(name)
    # when the operator runs the job by hand
    result = jobs.run_job(name, claim=False)
    # then it runs anyway
    assert result == 2


def test_a_failing_job_is_contained(shop_env):
    # given a job that raises
    def broken() -> None:
        raise RuntimeError("boom")

    name = f"test-broken-{secrets.token_hex(4)}"
    jobs.periodic(name, every=timedelta(minutes=1))(broken)
    try:
        # when the scheduler runs it, then nothing escapes to stop the scheduler
        assert jobs.run_job(name) is None
    finally:
        jobs.JOBS.pop(name, None)


def test_the_cli_lists_and_runs_jobs(shop_env, capsys):
    # given the shop's jobs
    # when they are listed
    assert main(["jobs", "list"]) == 0
    listed = capsys.readouterr().out
    # then the Stripe sync retry is among them, and it runs by hand on an empty catalog
    assert "catalog-sync" in listed
    assert main(["jobs", "run", "catalog-sync"]) == 0
    assert "remaining=0" in capsys.readouterr().out
    assert main(["jobs", "run", "no-such-job"]) == 2


def test_the_catalog_sync_runs_soon_after_start_and_the_others_after_a_tick(shop_env):
    # given the shop's jobs
    # when the scheduler starts
    before = datetime.now(UTC)
    scheduler = jobs.start_scheduler()
    assert scheduler is not None
    try:
        catalog_sync = scheduler.get_job("catalog-sync").next_run_time
        receipts = scheduler.get_job("receipts").next_run_time
    finally:
        scheduler.shutdown(wait=False)
    # then the Stripe sync of a freshly seeded catalog is due in seconds, not a tick later
    assert catalog_sync - before <= timedelta(seconds=15)
    assert receipts - before >= timedelta(minutes=4)
