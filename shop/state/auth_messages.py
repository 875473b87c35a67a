"""What the account pages say for the codes that the form endpoints put in the query string.

The form endpoints (shop/api/routes/auth.py) answer with a 303 back to the page and a stable
code (`?error=password_too_short&field=password`); the page turns the code into words here.
Unknown codes get a general message, so nothing from the URL is ever shown as it is.
"""

from __future__ import annotations

from shop.services import ids
from shop.settings import get_settings


def error_text(code: str, *, retry_after: str = "") -> str:
    """A sentence for an error code from the query string ("" for no error)."""
    if not code:
        return ""
    settings = get_settings()
    messages = {
        "invalid_credentials": "Wrong email or password.",
        "too_many_attempts": (
            f"Too many failed sign-in attempts. Try again in {wait_text(retry_after)}."
        ),
        "invalid_input": "Enter a valid email address.",
        "password_too_short": f"Use at least {settings.password_min_length} characters.",
        "password_too_long": f"Use at most {settings.password_max_length} characters.",
        "password_too_common": (
            "This password is one of the most common ones; choose a less guessable one."
        ),
        "password_is_email": "The password must not be your email address.",
        "wrong_password": "The current password is not right.",
        "invalid_token": "This link is invalid or has expired. Ask for a new one.",
    }
    return messages.get(code, "That did not work. Check the form and try again.")


def wait_text(retry_after: str) -> str:
    """ "45 seconds", "3 minutes" from a Retry-After value (seconds)."""
    seconds = ids.parse_whole(retry_after, ids.MAX_INT)
    if seconds is None:
        return "a little while"
    seconds = max(1, seconds)
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minutes"


NOTICES = {
    "check_email": (
        "Check your inbox: we sent a message about your account to that address. "
        "If you already have an account, sign in below."
    ),
    "password_reset": "Your password is changed. Sign in with the new one.",
}


def notice_text(code: str) -> str:
    return NOTICES.get(code, "")
