"""Password hashing (argon2id) and the password policy.

Policy (NIST SP 800-63B, OWASP ASVS 5.0 V6.2): at least `password_min_length` (8) characters,
up to `password_max_length` (1024) accepted and hashed whole (never truncated), no composition
rules, and the most common passwords refused.

The common-password list, `wordlists/common-passwords.txt`, is the 19,640-entry list that
Django ships as `django/contrib/auth/common-passwords.txt.gz` (taken unchanged, decompressed,
from the `django==5.2.19` wheel on PyPI; Django credits it to Royce Williams' list of the most
common passwords, 2017). Its licence, Django's BSD-3-Clause, is beside it in
`wordlists/common-passwords.LICENSE-django.txt`. To rebuild it: `pip download django==5.2.19
--no-deps --only-binary=:all:`, unzip `django/contrib/auth/common-passwords.txt.gz` from the
wheel and gunzip it (SHA-256 of the text file:
29ca0fa5303165f012f3e9775e3e95a3071cdd59f219973ec1cbb308d0214a6f). Comparison is
case-insensitive and ignores surrounding white space, as Django's validator does.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shop.services.errors import InvalidInput
from shop.settings import get_settings

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "wordlists" / "common-passwords.txt"


@lru_cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, hash_len=32
    )


def hasher() -> PasswordHasher:
    """The argon2id hasher with the parameters of the current settings."""
    settings = get_settings()
    return _hasher(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )


def _normalize(password: str) -> str:
    # NFKC so the same password typed on two keyboards hashes the same (ASVS / NIST).
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, *, email: str | None = None, field: str = "password") -> None:
    """Raise InvalidInput saying what is wrong with a new password, or return."""
    settings = get_settings()
    if not isinstance(password, str):
        raise InvalidInput("Password must be text.", field=field)
    length = len(password)
    if length < settings.password_min_length:
        raise InvalidInput(
            f"Use at least {settings.password_min_length} characters.",
            code="password_too_short",
            field=field,
        )
    if length > settings.password_max_length:
        raise InvalidInput(
            f"Use at most {settings.password_max_length} characters.",
            code="password_too_long",
            field=field,
        )
    lowered = password.strip().lower()
    if lowered in common_passwords():
        raise InvalidInput(
            "This password is one of the most common ones; choose another.",
            code="password_too_common",
            field=field,
        )
    if email and lowered == email.strip().lower():
        raise InvalidInput(
            "The password must not be your email address.", code="password_is_email", field=field
        )


def hash_password(password: str) -> str:
    return hasher().hash(_normalize(password))


def verify_password(hashed: str, password: str) -> bool:
    try:
        return hasher().verify(hashed, _normalize(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    try:
        return hasher().check_needs_rehash(hashed)
    except InvalidHashError:
        return True


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash("not a real password, only timing")


def burn_verify_time(password: str) -> None:
    """Spend what a real verification costs, so unknown emails answer in the same time."""
    settings = get_settings()
    dummy = _dummy_hash(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )
    verify_password(dummy, password)
