"""What the account pages say for the codes in their query string, and how they name devices."""

from __future__ import annotations

import pytest

from shop.pages.account import describe_agent
from shop.state.auth_messages import error_text, notice_text, wait_text


def test_a_throttled_sign_in_says_how_long_to_wait():
    assert error_text("too_many_attempts", retry_after="1") == (
        "Too many failed sign-in attempts. Try again in 1 second."
    )
    assert error_text("too_many_attempts", retry_after="45").endswith("in 45 seconds.")
    assert error_text("too_many_attempts", retry_after="600").endswith("in 10 minutes.")
    assert error_text("too_many_attempts", retry_after="<script>").endswith("a little while.")


def test_codes_from_the_url_are_never_echoed():
    # given a code someone typed into the address bar
    text = error_text("<img src=x onerror=alert(1)>")
    # then the page shows a general sentence, not the code
    assert "<img" not in text
    assert text == "That did not work. Check the form and try again."
    assert notice_text("<b>free money</b>") == ""
    assert error_text("") == ""


def test_password_policy_messages_name_the_configured_minimum(shop_env, monkeypatch):
    from shop.settings import get_settings

    monkeypatch.setenv("PASSWORD_MIN_LENGTH", "12")
    get_settings.cache_clear()
    assert error_text("password_too_short") == "Use at least 12 characters."


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "Version/17.0 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Windows",
        ),
        ("curl/8.5.0", "curl"),
        (None, "Unknown device"),
    ],
)
def test_sessions_are_named_by_browser_and_system(agent, device):
    assert describe_agent(agent) == device


def test_wait_text_rounds_up_to_whole_minutes():
    assert wait_text("91") == "2 minutes"


def test_wait_text_says_a_little_while_for_what_is_not_a_plain_number():
    assert wait_text("0") == "1 second"
    for crafted in ("²", "١٢", "-5", "9" * 5000):
        assert wait_text(crafted) == "a little while", crafted
