"""Failed sign-ins slow down exponentially, per IP + account and per IP, with an hourly cap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from shop.models import utcnow
from shop.services import auth, throttle
from shop.services.throttle import Throttled, ThrottleKeys
from shop.settings import get_settings
from tests.factories import DEFAULT_PASSWORD, make_user


def test_the_throttle_curve_is_free_then_doubles_up_to_the_cap(shop_env: Path):
    # given the defaults: 5 free failures, then 1 s doubling, capped at 15 minutes
    free = get_settings().login_free_failures
    curve = [throttle.delay_after(n, free) for n in range(1, 17)]
    # then the first four cost nothing, the fifth 1 s, and each further one doubles
    assert curve[:4] == [0, 0, 0, 0]
    assert curve[4:14] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert curve[14:] == [900, 900]


def test_failures_block_this_ip_and_account_for_the_curve(session: Session):
    # given five failures from one IP against one account
    keys = ThrottleKeys.of(ip="203.0.113.7", email="owner@example.com")
    start = utcnow()
    waits = [throttle.record_failure(session=session, keys=keys, now=start) for _ in range(5)]
    assert waits == [0, 0, 0, 0, 1]
    # then the next attempt must wait a second, with Retry-After rounded up
    with pytest.raises(Throttled) as blocked:
        throttle.check(session=session, keys=keys, now=start)
    assert blocked.value.retry_after == 1
    # and after that second it may try again; one more failure doubles the wait
    throttle.check(session=session, keys=keys, now=start + timedelta(seconds=1.01))
    later = start + timedelta(seconds=1.01)
    assert throttle.record_failure(session=session, keys=keys, now=later) == 2
    with pytest.raises(Throttled) as blocked:
        throttle.check(session=session, keys=keys, now=later + timedelta(seconds=1))
    assert blocked.value.retry_after == 1


def test_a_stranger_cannot_lock_the_owner_out(session: Session):
    # given an attacker who failed 12 times from their IP
    attacker = ThrottleKeys.of(ip="198.51.100.66", email="owner@example.com")
    for _ in range(12):
        throttle.record_failure(session=session, keys=attacker)
    with pytest.raises(Throttled):
        throttle.check(session=session, keys=attacker)
    # when the owner signs in from their own IP, then nothing holds them back
    owner = ThrottleKeys.of(ip="192.0.2.10", email="owner@example.com")
    throttle.check(session=session, keys=owner)


def test_one_ip_failing_over_many_accounts_is_slowed_down(session: Session):
    free = get_settings().login_ip_free_failures
    for n in range(free):
        keys = ThrottleKeys.of(ip="198.51.100.9", email=f"victim{n}@example.com")
        throttle.record_failure(session=session, keys=keys)
    fresh_account = ThrottleKeys.of(ip="198.51.100.9", email="another@example.com")
    with pytest.raises(Throttled):
        throttle.check(session=session, keys=fresh_account)


def test_at_most_100_failures_per_account_per_hour(session: Session):
    # given 100 failures on one account, each from a different IP
    start = utcnow()
    for n in range(100):
        keys = ThrottleKeys.of(ip=f"10.1.{n // 250}.{n % 250}", email="target@example.com")
        throttle.record_failure(session=session, keys=keys, now=start)
    # then a fresh IP is refused for this account until the hour is over
    fresh = ThrottleKeys.of(ip="192.0.2.200", email="target@example.com")
    with pytest.raises(Throttled) as blocked:
        throttle.check(session=session, keys=fresh, now=start + timedelta(minutes=1))
    assert 3500 < blocked.value.retry_after <= 3600
    throttle.check(session=session, keys=fresh, now=start + timedelta(hours=1, seconds=1))


def test_counters_start_over_after_an_hour(session: Session):
    keys = ThrottleKeys.of(ip="203.0.113.8", email="someone@example.com")
    start = utcnow() - timedelta(hours=2)
    for _ in range(7):
        throttle.record_failure(session=session, keys=keys, now=start)
    assert throttle.record_failure(session=session, keys=keys, now=utcnow()) == 0


def test_a_correct_password_clears_the_ip_account_counter(session: Session):
    # given a user who mistyped four times
    user = make_user(session)
    for _ in range(4):
        assert (
            auth.sign_in(session=session, email=user.email, password="typo", ip="192.0.2.5") is None
        )
    # when they get it right, then the counter starts again from zero
    assert auth.sign_in(
        session=session, email=user.email, password=DEFAULT_PASSWORD, ip="192.0.2.5"
    )
    for _ in range(4):
        assert (
            auth.sign_in(session=session, email=user.email, password="typo", ip="192.0.2.5") is None
        )
    auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD, ip="192.0.2.5")


def test_sign_in_answers_throttled_even_with_the_right_password(session: Session):
    # given five failures from one IP
    user = make_user(session)
    for _ in range(5):
        auth.sign_in(session=session, email=user.email, password="guess", ip="203.0.113.50")
    # when the right password comes from that IP at once, then it must still wait
    with pytest.raises(Throttled):
        auth.sign_in(
            session=session, email=user.email, password=DEFAULT_PASSWORD, ip="203.0.113.50"
        )
