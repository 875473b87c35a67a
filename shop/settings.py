"""One settings object for the whole shop; every environment variable lives here."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "changethis", "secret", "placeholder"}
SANDBOX_SECRET_KEY = "sk_test_sandbox"
SANDBOX_PUBLISHABLE_KEY = "pk_test_sandbox"


class Settings(BaseSettings):
    """Read from the environment (and `.env`); empty values count as unset."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    shop_env: Literal["development", "test", "production"] = "development"
    shop_name: str = "Maple & Pine Digital"
    shop_data_dir: Path = Path("./data")
    public_url: str = "http://localhost:8000"
    port: int = 8000
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    log_level: str = "INFO"

    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str = "http://127.0.0.1:12111"

    smtp_url: str | None = None
    mail_from: str = "Maple & Pine Digital <shop@localhost>"

    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str = "us-east-1"

    shop_admin_email: str | None = None
    shop_admin_password: str | None = None

    api_page_size_max: int = Field(default=100, ge=1, le=1000)

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.shop_env == "production":
            if self.secret_key is None or self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("SECRET_KEY must be set to a real secret in production")
            if len(self.secret_key) < 32:
                raise ValueError("SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def data_dir(self) -> Path:
        return self.shop_data_dir.resolve()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'shop.sqlite3'}"

    @property
    def is_https(self) -> bool:
        return urlparse(self.public_url).scheme == "https"

    @property
    def public_origin(self) -> str:
        parsed = urlparse(self.public_url)
        return f"{parsed.scheme}://{parsed.netloc}"

    @property
    def sandbox_mode(self) -> bool:
        """No Stripe key configured: payments go to the bundled offline sandbox."""
        return not self.stripe_secret_key

    @property
    def effective_stripe_secret_key(self) -> str:
        return self.stripe_secret_key or SANDBOX_SECRET_KEY

    @property
    def effective_stripe_publishable_key(self) -> str:
        return self.stripe_publishable_key or SANDBOX_PUBLISHABLE_KEY

    @property
    def effective_secret_key(self) -> str:
        """SECRET_KEY, or outside production one generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        return _read_or_create_secret(self.data_dir / "secret_key")

    @property
    def effective_stripe_webhook_secret(self) -> str:
        if self.stripe_webhook_secret:
            return self.stripe_webhook_secret
        return _read_or_create_secret(self.data_dir / "stripe_webhook_secret", prefix="whsec_")

    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


def _read_or_create_secret(path: Path, prefix: str = "") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        value = prefix + secrets.token_urlsafe(48)
        # O_EXCL: two processes starting together keep the first one's secret.
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(value)
            path.chmod(0o600)
        except FileExistsError:
            pass
    return path.read_text(encoding="utf-8").strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
