"""Where the sign-in and sign-up forms may send the browser afterwards: this site only."""

from __future__ import annotations

import pytest

from shop.services.auth import safe_next_path


@pytest.mark.parametrize(
    "target", ["/account", "/products?category=audio&page=2", "/account/orders#latest"]
)
def test_local_paths_are_kept(target):
    assert safe_next_path(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\x00/evil.example",
        "javascript:alert(1)",
        "account",
        "/" + "a" * 500,
    ],
)
def test_anything_that_could_leave_the_site_falls_back(target):
    assert safe_next_path(target, "/account") == "/account"
