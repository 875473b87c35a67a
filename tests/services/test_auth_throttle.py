"""Failed sign-ins slow down exponentially, per IP + account and per IP, with an hourly cap."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlmodel import Session, select

from shop import db
from shop.models import AuditLog, SignInThrottle, utcnow
from shop.services import auth, throttle
from shop.services.throttle import Throttled, ThrottleKeys
from shop.settings import get_settings
from tests.concurrency import at_once
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


OWNER_HOME = "192.0.2.10"


def _strangers_cap_the_account(session: Session, address: str) -> None:
    """What the audit did: 5 wrong passwords from each of 20 IPs (100, the hourly cap)."""
    for n in range(20):
        keys = ThrottleKeys.of(ip=f"10.9.0.{n + 1}", email=address)
        for _ in range(5):
            throttle.record_failure(session=session, keys=keys)


def _reset_link_token(data_dir: Path) -> str:
    newest = sorted((data_dir / "outbox").glob("*.eml"))[-1]
    message = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
    match = re.search(r"/reset-password\?token=([A-Za-z0-9_\-]+)", message.get_content())
    assert match
    return match.group(1)


def test_strangers_on_many_ips_cannot_lock_the_owner_out_of_their_usual_ip(session: Session):
    # given an owner who signed in from home before
    user = make_user(session)
    assert auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD, ip=OWNER_HOME)
    # when strangers use up the account's hourly cap from 20 other IPs
    _strangers_cap_the_account(session, user.email)
    # then one more stranger is refused until the hour is over
    stranger = ThrottleKeys.of(ip="198.51.100.77", email=user.email)
    with pytest.raises(Throttled) as blocked:
        throttle.check(session=session, keys=stranger)
    assert 3500 < blocked.value.retry_after <= 3600
    # and the owner at home still gets in with the right password
    assert auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD, ip=OWNER_HOME)


def test_a_password_reset_lets_the_owner_in_from_a_new_ip(session: Session, shop_env: Path):
    # given an account capped by strangers, and its owner on a network never used before
    user = make_user(session)
    session.commit()
    _strangers_cap_the_account(session, user.email)
    with pytest.raises(Throttled):
        auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD, ip="203.0.113.9")
    # when the owner resets the password from there with the emailed link
    auth.request_password_reset(session=session, email=user.email, ip="203.0.113.9")
    session.commit()
    new_password = "a fresh start after the lockout"
    auth.reset_password(
        session=session,
        token=_reset_link_token(shop_env),
        new_password=new_password,
        ip="203.0.113.9",
    )
    session.commit()
    # then the owner signs in from that IP, while strangers' IPs are still refused
    assert auth.sign_in(session=session, email=user.email, password=new_password, ip="203.0.113.9")
    with pytest.raises(Throttled):
        throttle.check(session=session, keys=ThrottleKeys.of(ip="10.9.0.1", email=user.email))


def test_a_known_ip_still_waits_out_its_own_curve(session: Session):
    # given an owner's usual IP and an account capped by strangers
    user = make_user(session)
    assert auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD, ip=OWNER_HOME)
    _strangers_cap_the_account(session, user.email)
    # when that IP fails five times itself, then it waits like any other IP would
    for _ in range(5):
        assert (
            auth.sign_in(session=session, email=user.email, password="nope", ip=OWNER_HOME) is None
        )
    with pytest.raises(Throttled) as blocked:
        auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD, ip=OWNER_HOME)
    assert blocked.value.retry_after == 1


def test_an_ip_known_to_one_account_is_a_stranger_to_another(session: Session):
    # given someone who signed in to their own account from an IP
    own = make_user(session)
    assert auth.sign_in(session=session, email=own.email, password=DEFAULT_PASSWORD, ip=OWNER_HOME)
    # when another account is capped, then that IP is refused for the other account
    victim = make_user(session)
    _strangers_cap_the_account(session, victim.email)
    with pytest.raises(Throttled):
        throttle.check(session=session, keys=ThrottleKeys.of(ip=OWNER_HOME, email=victim.email))


def test_a_sign_in_more_than_30_days_old_no_longer_makes_an_ip_known(session: Session):
    # given an owner who signed in from an IP, and the account capped by strangers
    user = make_user(session)
    assert auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD, ip=OWNER_HOME)
    _strangers_cap_the_account(session, user.email)
    home = ThrottleKeys.of(ip=OWNER_HOME, email=user.email)
    throttle.check(session=session, keys=home)
    # when that sign-in is more than 30 days old, then the IP no longer counts as known
    later = utcnow() + throttle.KNOWN_FOR + timedelta(minutes=1)
    assert not throttle.known_to_account(session=session, keys=home, now=later)


def test_every_spelling_of_an_address_counts_against_one_account(session: Session):
    # given an account
    user = make_user(session, email="dora@example.com")
    session.commit()
    # when wrong passwords come in under other spellings of its address
    for spelling in ["ＤORA@example.com", "dora@Example.com.", " Dora@EXAMPLE.COM "]:
        assert (
            auth.sign_in(session=session, email=spelling, password="wrong", ip="10.1.1.1") is None
        )
    session.commit()
    # then they share the account's keys, so the throttle sees three failures of one account
    keys = {ThrottleKeys.of(ip="10.1.1.1", email=s) for s in ["ＤORA@example.com", user.email]}
    assert len(keys) == 1
    counted = session.get(SignInThrottle, keys.pop().account, populate_existing=True)
    assert counted is not None
    assert counted.failures == 3


def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_one_after_another(
    session: Session,
):
    # given an account, and 12 wrong passwords sent at the same instant from one IP
    user = make_user(session, email="burst@example.com")
    session.commit()
    free = get_settings().login_free_failures
    outcomes: list[str] = []

    def guess(n: int) -> None:
        try:
            with db.session_scope() as own:
                signed_in = auth.sign_in(
                    session=own, email=user.email, password=f"guess {n}", ip="198.51.100.77"
                )
            outcomes.append("signed in" if signed_in else "wrong password")
        except Throttled:
            outcomes.append("throttled")

    # when they are all checked
    at_once([partial(guess, n) for n in range(12)])

    # then only the free tries were checked against the password, as if sent in turn
    assert sorted(outcomes) == ["throttled"] * (12 - free) + ["wrong password"] * free


def test_capping_an_account_is_audited_once_per_window(session: Session):
    # given an account
    user = make_user(session)
    # when strangers use up its hourly cap and keep failing past it
    _strangers_cap_the_account(session, user.email)
    for _ in range(3):
        throttle.record_failure(
            session=session, keys=ThrottleKeys.of(ip="10.9.1.1", email=user.email)
        )
    # then the audit log says once that the account was capped, naming it, until when
    capped = session.exec(select(AuditLog).where(AuditLog.action == "auth.account_capped")).all()
    assert len(capped) == 1
    assert capped[0].target == f"user:{user.id}"
    assert capped[0].actor_email == user.email
    assert capped[0].details["failures"] == get_settings().login_account_failures_per_hour
    assert capped[0].details["until"]
