"""Password policy and argon2id hashing."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from sqlmodel import Session

from shop.services import auth, passwords
from shop.services.errors import InvalidInput
from shop.settings import get_settings
from tests.factories import DEFAULT_PASSWORD, make_user


def test_a_seven_character_password_is_refused(shop_env: Path):
    with pytest.raises(InvalidInput) as refused:
        passwords.check_policy("k7#Qz!p")
    assert refused.value.code == "password_too_short"


def test_an_eight_character_uncommon_password_is_accepted(shop_env: Path):
    passwords.check_policy("k7#Qz!pW")


@pytest.mark.parametrize(
    "common", ["password", "12345678", "iloveyou", "Qwertyuiop", " Password1 "]
)
def test_common_passwords_are_refused(shop_env: Path, common: str):
    with pytest.raises(InvalidInput) as refused:
        passwords.check_policy(common)
    assert refused.value.code == "password_too_common"


def test_the_common_list_ships_at_least_ten_thousand_real_entries():
    entries = passwords.common_passwords()
    assert len(entries) >= 10_000
    # the head of the list is what every breach corpus starts with
    assert {"123456", "password", "qwerty", "111111", "abc123"} <= entries


def test_a_65_character_password_is_accepted_and_not_truncated(shop_env: Path):
    # given a 65-character password
    long_password = "a long passphrase that goes on and on past sixty-four characters!"
    assert len(long_password) == 65
    passwords.check_policy(long_password)
    # when it is hashed, then only the exact password verifies: its last character counts
    hashed = passwords.hash_password(long_password)
    assert passwords.verify_password(hashed, long_password)
    assert not passwords.verify_password(hashed, long_password[:-1] + "?")
    assert not passwords.verify_password(hashed, long_password[:64])


def test_passwords_up_to_the_maximum_are_accepted_and_longer_ones_refused(shop_env: Path):
    maximum = get_settings().password_max_length
    assert maximum >= 64
    passwords.check_policy("x9" * (maximum // 2))
    with pytest.raises(InvalidInput) as refused:
        passwords.check_policy("x" * (maximum + 1))
    assert refused.value.code == "password_too_long"


def test_no_composition_rules(shop_env: Path):
    # all lower-case letters and spaces is fine when it is long and uncommon
    passwords.check_policy("purple monkey dishwasher")


def test_hashes_are_argon2id_with_at_least_the_required_cost(shop_env: Path):
    hashed = passwords.hash_password("purple monkey dishwasher")
    assert hashed.startswith("$argon2id$v=19$")
    params = dict(item.split("=") for item in hashed.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024
    assert int(params["t"]) >= 2
    assert int(params["p"]) == 1


def test_unicode_passwords_are_normalized_before_hashing(shop_env: Path):
    # "é" typed as one code point or as e + combining accent is the same password
    hashed = passwords.hash_password("caf\u00e9 au lait s'il vous pla\u00eet")
    assert passwords.verify_password(hashed, "cafe\u0301 au lait s'il vous pla\u00eet")


def test_sign_in_rehashes_a_password_stored_with_weaker_parameters(session: Session):
    # given a user whose hash was made with old, weaker (but legal) parameters
    weak = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    user = make_user(session, password=None)
    user.hashed_password = weak.hash(DEFAULT_PASSWORD)
    session.add(user)
    session.flush()
    old_hash = user.hashed_password
    assert passwords.needs_rehash(old_hash)
    # when they sign in with the right password
    signed_in = auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD)
    # then the stored hash now uses the current parameters
    assert signed_in is not None
    session.refresh(user)
    assert user.hashed_password != old_hash
    assert not passwords.needs_rehash(user.hashed_password)


# A timing comparison: kept out of test-fast, whose parallel workers skew the clocks.
@pytest.mark.slow
def test_unknown_emails_take_as_long_as_wrong_passwords(session: Session):
    # given a real account
    user = make_user(session)

    def timed(email: str) -> float:
        started = time.perf_counter()
        result = auth.sign_in(session=session, email=email, password="wrong password here")
        assert result is None
        return time.perf_counter() - started

    # when we try wrong passwords for it and for an unknown address, alternating
    known = [timed(user.email) for _ in range(3)]
    unknown = [timed(f"nobody{i}@example.com") for i in range(3)]
    # then the medians are close: both paths run one full argon2 verification
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)


def test_the_dummy_hash_uses_the_same_parameters_as_real_ones(shop_env: Path):
    settings = get_settings()
    dummy = passwords._dummy_hash(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )
    assert not passwords.needs_rehash(dummy)
