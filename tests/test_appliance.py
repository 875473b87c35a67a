"""`python -m shop run`: the sandbox it adopts must be this shop's (audit finding 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop import appliance
from shop.settings import get_settings
from stripe_sandbox import Sandbox


def _point_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_BASE", url)
    monkeypatch.setenv("PORT", "8851")
    get_settings.cache_clear()


def test_a_sandbox_another_shop_started_is_refused(
    shop_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # given a sandbox already running, started by a shop on another port
    other = Sandbox(
        str(tmp_path / "other.sqlite3"),
        webhook_url="http://127.0.0.1:8852/api/webhooks/stripe",
        webhook_secret="whsec_other_shop",
    )
    with other.serve() as url:
        _point_at(url, monkeypatch)
        # when this shop starts its sandbox, then it refuses, naming the setting to change
        with pytest.raises(appliance.StartRefused) as refused:
            appliance.start_sandbox()
    message = str(refused.value)
    assert message.startswith("setting STRIPE_API_BASE: a Stripe sandbox started by another shop")
    assert "http://127.0.0.1:8852/api/webhooks/stripe" in message
    assert "whsec_" not in message


def test_this_shops_own_sandbox_is_adopted(
    shop_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # given a sandbox left running by this shop (same webhook URL and signing secret)
    monkeypatch.setenv("PORT", "8851")
    get_settings.cache_clear()
    mine = Sandbox(
        str(tmp_path / "mine.sqlite3"),
        webhook_url="http://127.0.0.1:8851/api/webhooks/stripe",
        webhook_secret=get_settings().effective_stripe_webhook_secret,
    )
    with mine.serve() as url:
        _point_at(url, monkeypatch)
        # when the shop starts, then it uses that sandbox rather than starting another
        assert appliance.start_sandbox() is None


def test_run_stops_in_one_line_on_a_foreign_sandbox(
    shop_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    from shop.__main__ import main

    other = Sandbox(str(tmp_path / "other.sqlite3"), webhook_url="http://127.0.0.1:8853/x")
    with other.serve() as url:
        _point_at(url, monkeypatch)
        monkeypatch.setenv("SHOP_ENV", "production")
        monkeypatch.setenv("SECRET_KEY", "y" * 40)
        get_settings.cache_clear()
        assert main(["run"]) == 2
    assert capsys.readouterr().err.startswith("setting STRIPE_API_BASE: ")
