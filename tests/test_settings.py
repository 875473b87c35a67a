from pathlib import Path

import pytest
from pydantic import ValidationError

from shop.__main__ import main
from shop.settings import Settings, describe_problems, get_settings


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


# --- refused settings: one line each, naming the setting, never a value (audit findings 1, 10)

SECRET_VALUES = ("tooshort-secret-value", "AdminPassw0rd!XY", "SMTPPASSWORD")


def _production_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secret_key: str) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SHOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SECRET_KEY", secret_key)
    monkeypatch.setenv("SHOP_ADMIN_EMAIL", "owner@example.com")
    monkeypatch.setenv("SHOP_ADMIN_PASSWORD", "AdminPassw0rd!XY")
    monkeypatch.setenv("SMTP_URL", "smtp://u:SMTPPASSWORD@mail.example.com:587")
    get_settings.cache_clear()


def test_a_refused_production_secret_never_shows_the_settings_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # given production settings with a too short SECRET_KEY and other secrets set
    _production_env(monkeypatch, tmp_path, "tooshort-secret-value")
    # when they load
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    # then neither the error (as a traceback would print it) nor its description holds a value
    for value in SECRET_VALUES:
        assert value not in str(refused.value)
    assert describe_problems(refused.value) == [
        "setting SECRET_KEY: must be at least 32 characters in production"
    ]


def test_every_command_refuses_bad_settings_in_one_line_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # given a short secret, and a port and log level that are not ones
    _production_env(monkeypatch, tmp_path, "tooshort-secret-value")
    monkeypatch.setenv("PORT", "abc")
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    try:
        for command in (["check-config"], ["migrate"], ["run"], ["jobs", "run", "backup"]):
            # when a command starts
            code = main(command)
            output = capsys.readouterr()
            # then it exits 2 with one line per setting at fault, and no value in sight
            assert code == 2, command
            assert output.out == ""
            lines = output.err.splitlines()
            assert [line.split(":", 1)[0] for line in lines] == [
                "setting PORT",
                "setting LOG_LEVEL",
            ], lines
            assert "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in lines[1]
            assert not any(value in output.err for value in (*SECRET_VALUES, "abc", "verbose"))
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("value", ["debug", "Warning", " ERROR "])
def test_the_log_level_is_any_case_of_a_known_one(value: str):
    assert Settings(_env_file=None, log_level=value).log_level == value.strip().upper()


def test_an_unknown_log_level_is_refused_at_start():
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, log_level="verbose")
    assert describe_problems(refused.value) == [
        "setting LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////srv/shop/shop.sqlite3",
        "postgres://shop:pw@db/shop",
        "postgresql://shop:pw@db/shop",
        "postgresql+psycopg://shop:pw@db/shop",
    ],
)
def test_sqlite_and_postgresql_urls_are_accepted(url: str):
    assert Settings(_env_file=None, database_url=url).database_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root:hunter2-secret@db/shop", "runs on PostgreSQL"),
        ("postgresql+psycopg2://shop:hunter2-secret@db/shop", "runs on PostgreSQL"),
        ("hunter2-secret", "must be a URL"),
        ("postgresql://", "must be a URL"),
    ],
)
def test_a_database_url_the_shop_cannot_use_is_refused_without_repeating_it(url: str, problem: str):
    # given a DATABASE_URL of another database, or no URL at all
    # when the settings load
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, database_url=url)
    # then one line names the setting and the problem, and never the URL (it holds a password)
    [line] = describe_problems(refused.value)
    assert line.startswith("setting DATABASE_URL: ")
    assert problem in line
    assert "hunter2" not in line


def test_migrate_refuses_a_mysql_url_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # given a DATABASE_URL naming MySQL
    monkeypatch.setenv("SHOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", "mysql://root:hunter2-secret@127.0.0.1/test")
    get_settings.cache_clear()
    try:
        # when `migrate` starts
        code = main(["migrate"])
        output = capsys.readouterr()
    finally:
        get_settings.cache_clear()
    # then it exits 2 with one line, not a driver's traceback
    assert code == 2
    assert output.err.splitlines() == [
        "setting DATABASE_URL: the shop runs on PostgreSQL (postgresql://…) or SQLite "
        "(sqlite:///…), not this database"
    ]


def test_run_refuses_a_common_admin_password_in_one_line(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # given a production shop whose SHOP_ADMIN_PASSWORD is one of the most common ones
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SHOP_ADMIN_EMAIL", "owner@example.com")
    monkeypatch.setenv("SHOP_ADMIN_PASSWORD", "letmein123")
    get_settings.cache_clear()
    # when it is started
    code = main(["run"])
    # then it stops at once with one line naming the setting, and not its value
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("setting SHOP_ADMIN_PASSWORD: ")
    assert len(err.splitlines()) == 1
    assert "most common" in err
    assert "letmein" not in err


def test_a_data_dir_the_shop_creates_is_its_owners_alone(
    shop_env: Path, capsys: pytest.CaptureFixture[str]
):
    # given no data dir yet
    assert not shop_env.exists()
    # when a command needs it
    assert main(["migrate"]) == 0
    # then it is made readable by its owner only
    assert shop_env.stat().st_mode & 0o777 == 0o700


def test_a_data_dir_that_cannot_be_written_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # given a SHOP_DATA_DIR below a plain file (as a mistyped mount: nothing can be made there,
    # even by root)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("SHOP_DATA_DIR", str(blocker / "data"))
    get_settings.cache_clear()
    # when a command needs it
    code = main(["migrate"])
    get_settings.cache_clear()
    # then it stops with one line naming the setting and the folder, not a database traceback
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"setting SHOP_DATA_DIR: {blocker / 'data'} cannot be written by ")
    assert len(err.splitlines()) == 1
