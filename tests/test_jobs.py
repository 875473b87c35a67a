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


def test_a_job_that_fails_by_hand_exits_non_zero_in_one_line(shop_env, capsys):
    # given a job that raises
    def broken() -> None:
        raise RuntimeError("the disk is full\nsee above")

    name = f"test-broken-{secrets.token_hex(4)}"
    jobs.periodic(name, every=timedelta(minutes=1))(broken)
    try:
        # when the operator (or a cron line) runs it by hand
        code = main(["jobs", "run", name])
    finally:
        jobs.JOBS.pop(name, None)
    # then it says so in one line and exits 1, rather than printing None and exiting 0
    output = capsys.readouterr()
    assert code == 1
    assert output.out == ""
    assert output.err == f"error: job {name} failed: the disk is full see above\n"


def test_a_job_run_by_hand_reports_its_outcome_readably(shop_env, counting_job, capsys):
    # given a job that returns what it did
    name, _calls = counting_job
    # when it is run by hand, then its outcome is printed, not a repr or None
    assert main(["jobs", "run", name]) == 0
    assert capsys.readouterr().out == f"job {name} done: 1\n"
    assert main(["jobs", "run", "catalog-sync"]) == 0
    assert capsys.readouterr().out == "job catalog-sync done: synced=0 failed=0 remaining=0\n"


def test_a_failed_backup_by_hand_exits_non_zero(shop_env, monkeypatch, capsys):
    # given a BACKUP_DIR that cannot be made (a file is in the way)
    from shop.settings import get_settings

    shop_env.mkdir(parents=True)
    (shop_env / "in-the-way").write_text("x")
    monkeypatch.setenv("BACKUP_DIR", str(shop_env / "in-the-way" / "backups"))
    get_settings.cache_clear()
    # when the backup job is run by hand
    code = main(["jobs", "run", "backup"])
    # then it fails visibly, naming the reason
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: job backup failed: The backup could not be written to ")
    assert len(err.splitlines()) == 1


def _backup_due_in(scheduler_start: datetime) -> timedelta:
    scheduler = jobs.start_scheduler()
    assert scheduler is not None
    try:
        return scheduler.get_job("backup").next_run_time - scheduler_start
    finally:
        scheduler.shutdown(wait=False)


def test_the_first_backup_runs_minutes_after_start_when_none_is_recent(shop_env):
    # given a shop with no backup at all
    # when the scheduler starts
    due = _backup_due_in(datetime.now(UTC))
    # then the first backup is due in about five minutes, not an hour or a day
    assert timedelta(minutes=4) <= due <= timedelta(minutes=6)


def test_the_first_backup_waits_for_a_tick_after_a_recent_one(shop_env):
    # given a backup made an hour ago (backups every 24 hours)
    from shop.models import utcnow
    from shop.services import backups

    backups.create_backup(now=utcnow() - timedelta(hours=1))
    # when the scheduler starts, then the next is due when that one is a day old
    due = _backup_due_in(datetime.now(UTC))
    assert timedelta(hours=22, minutes=50) <= due <= timedelta(hours=23, minutes=1)


def test_tick_claims_live_under_the_shops_redis_namespace(
    shop_env, counting_job, monkeypatch: pytest.MonkeyPatch
):
    # given a shop on Redis with a namespace of its own
    import redis

    from shop.settings import get_settings
    from tests.conftest import redis_available_url

    url = redis_available_url()
    namespace = f"ops-fix-{secrets.token_hex(6)}"
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("RATE_LIMIT_NAMESPACE", namespace)
    get_settings.cache_clear()
    name, _calls = counting_job
    client = redis.Redis.from_url(url)
    try:
        # when a scheduled tick is claimed
        assert jobs.run_job(name) == 1
        # then the claim is under the namespace, where another shop on this Redis never looks
        assert client.exists(f"{namespace}:job:{name}")
        assert not client.exists(f"shop:job:{name}")
    finally:
        client.delete(f"{namespace}:job:{name}")
        client.close()


def test_a_redis_outage_does_not_stop_the_jobs(shop_env, counting_job, monkeypatch):
    # given REDIS_URL pointing at a closed port
    from shop.settings import get_settings

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    name, calls = counting_job
    # when two schedulers fire for the same tick, then the job still runs, once
    assert jobs.run_job(name) == 1
    assert jobs.run_job(name) is None
    assert calls == [1]
