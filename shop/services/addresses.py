"""Email addresses: the one form an address is stored, looked up and throttled in.

An address is NFKC-normalised (a fullwidth `ａlice` is `alice`), trimmed, loses one trailing
dot of its domain (`example.com.` names the same host as `example.com`) and is lowercased; an
internationalised domain is kept in its ASCII (punycode) form. `email-validator` checks the
syntax and RFC 5321's limits: at most 64 characters before the @ and 254 in all.

The local part must be ASCII: mail leaves through plain SMTP or `.eml` files
(shop.services.mail), without SMTPUTF8, so an address like `bób@…` could not be written
correctly into a message. Refusing it at sign-up is the honest answer.
"""

from __future__ import annotations

import unicodedata

import email_validator
from email_validator import EmailNotValidError, validate_email

from shop.services.errors import InvalidInput

# A self-hosted shop runs on laptops and intranets too, where `admin@localhost` or
# `owner@shop.local` are real mailboxes; `.invalid`, `.onion` and `.arpa` stay refused. The
# library reads this list at each call and documents it as the place to change.
email_validator.SPECIAL_USE_DOMAIN_NAMES = [
    name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name not in ("local", "localhost")
]


def _prepared(email: str) -> str:
    text = unicodedata.normalize("NFKC", email or "").strip()
    # `example.com.` is the fully qualified spelling of `example.com`: the same mailbox.
    if "@" in text and text.endswith("."):
        text = text[:-1]
    return text


def normalize_email(email: str, *, field_name: str = "email") -> str:
    """The stored form of `email`; InvalidInput (422 on `field_name`) when it is no address
    the shop can mail."""
    text = _prepared(email)
    try:
        checked = validate_email(
            text,
            check_deliverability=False,  # no DNS look-ups on a sign-up or a sign-in
            allow_smtputf8=False,
            strict=True,  # also RFC 5321's 64-character limit of the local part
            # `.test` (RFC 6761) names no real host, but it is what tests and demo shops use.
            test_environment=True,
            # Dotless domains (`localhost`, an intranet host) are mailboxes on such machines.
            globally_deliverable=False,
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"Enter a valid email address. {exc}", field=field_name) from None
    return (checked.ascii_email or checked.normalized).lower()


def canonical_email(email: str) -> str:
    """The form to look an address up by. Never refuses: an account made under older, looser
    rules keeps signing in, and a sign-in with a malformed address still meets the throttle
    under one key for all its spellings."""
    try:
        return normalize_email(email)
    except InvalidInput:
        return _prepared(email).lower()[:320]
