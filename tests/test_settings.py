from pathlib import Path

import pytest
from pydantic import ValidationError

from shop.settings import Settings


def test_defaults_point_at_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # given no configuration but a data dir
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "SECRET_KEY", "STRIPE_SECRET_KEY", "SHOP_ENV", "SHOP_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    # when settings load
    settings = Settings(_env_file=None)
    # then SQLite lives in ./data and payments go to the sandbox
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'shop.sqlite3'}"
    assert settings.sandbox_mode is True
    assert settings.is_https is False


def test_secret_key_is_generated_once_and_kept(tmp_path: Path):
    # given a development shop without SECRET_KEY
    settings = Settings(_env_file=None, shop_data_dir=tmp_path, secret_key=None)
    # when the key is read twice, also by a second settings object
    first = settings.effective_secret_key
    second = Settings(_env_file=None, shop_data_dir=tmp_path).effective_secret_key
    # then it is the same long random value, readable only by the owner
    assert first == second
    assert len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("value", [None, "changeme", "secret", "short-but-real"])
def test_production_refuses_missing_or_placeholder_secret(value: str | None):
    # when production settings load with no real secret, then they are refused
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, shop_env="production", secret_key=value)


def test_production_accepts_a_real_secret():
    settings = Settings(_env_file=None, shop_env="production", secret_key="x" * 40)
    assert settings.effective_secret_key == "x" * 40


def test_empty_environment_values_count_as_unset(monkeypatch: pytest.MonkeyPatch):
    # given an empty STRIPE_SECRET_KEY (as docker-compose writes for unset values)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "")
    # then the shop still runs in sandbox mode
    assert Settings(_env_file=None).sandbox_mode is True


def test_https_public_url_is_detected():
    assert Settings(_env_file=None, public_url="https://shop.example/").is_https is True
    assert (
        Settings(_env_file=None, public_url="https://shop.example/").public_url
        == "https://shop.example"
    )
