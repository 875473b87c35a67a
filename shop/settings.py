"""One settings object for the whole shop; every environment variable lives here."""

from __future__ import annotations

import ipaddress
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "changethis", "secret", "placeholder"}
SANDBOX_SECRET_KEY = "sk_test_sandbox"
SANDBOX_PUBLISHABLE_KEY = "pk_test_sandbox"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgres", "postgresql", "postgresql+psycopg")


class Settings(BaseSettings):
    """Read from the environment (and `.env`); empty values count as unset."""

    # hide_input_in_errors: a refused setting's message (and traceback) never carries the values
    # of the settings, which include SECRET_KEY, SHOP_ADMIN_PASSWORD and URLs with passwords.
    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", hide_input_in_errors=True
    )

    shop_env: Literal["development", "test", "production"] = "development"
    shop_name: str = "Maple & Pine Digital"
    # The merchant's time zone (IANA name, e.g. America/Toronto): what a day is in reports,
    # date filters and receipts, and the times pages show. Moments are stored in UTC whatever it is.
    shop_time_zone: str = "UTC"
    shop_data_dir: Path = Path("./data")
    # Unset: http://localhost:<PORT>, so a shop moved to another port still trusts its own origin.
    public_url: str = ""
    port: int = 8000
    # Reverse proxies (nginx) whose X-Forwarded-For / X-Forwarded-Proto are believed:
    # comma-separated addresses or networks. Empty: the shop faces clients directly, and those
    # headers are ignored (anyone could send them to dodge per-address rate limits).
    forwarded_allow_ips: str = ""
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    log_level: str = "INFO"

    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str = "http://127.0.0.1:12111"

    # Sales-tax registrations: a tax is collected only where the merchant has a number. With none
    # set, development and test shops use the made-up demo numbers (tax.demo_registrations) and
    # production collects nothing; see shop.services.orders.merchant_tax_registrations.
    gst_hst_number: str | None = None
    qst_number: str | None = None
    bc_pst_number: str | None = None
    sk_pst_number: str | None = None
    mb_rst_number: str | None = None

    smtp_url: str | None = None
    mail_from: str = "Maple & Pine Digital <shop@localhost>"

    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str = "us-east-1"

    # Catalog uploads: limits enforced while the body streams in; per-product download defaults.
    upload_max_file_bytes: int = Field(default=2 * 1024**3, ge=1)
    upload_max_image_bytes: int = Field(default=10 * 1024**2, ge=1)
    image_max_pixels: int = Field(default=40_000_000, ge=1)
    image_thumbnail_px: int = Field(default=400, ge=16, le=4096)
    image_large_px: int = Field(default=1600, ge=64, le=8192)
    default_download_limit: int = Field(default=5, ge=1)
    default_download_days: int = Field(default=7, ge=1)
    # Lifetime of each signed download link (and of the S3 presigned URL it redirects to).
    download_link_minutes: int = Field(default=10, ge=1, le=24 * 60)

    # How long an unpaid order's hold on limited stock and promo code uses stays firm against
    # other buyers (after that it gives way when another checkout needs it).
    checkout_hold_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # An order still unpaid this long after its last payment attempt is closed by reconciliation
    # (its PaymentIntent canceled at Stripe), so abandoned checkouts do not pile up.
    unpaid_order_expiry_hours: int = Field(default=24, ge=1, le=90 * 24)

    # Backups (`python -m shop backup`, and the `backup` job every BACKUP_EVERY_HOURS; 0: none).
    backup_dir: Path | None = None  # unset: <data dir>/backups
    backup_every_hours: int = Field(default=24, ge=0, le=24 * 31)
    backup_keep: int = Field(default=7, ge=1)

    # Periodic jobs (Stripe sync retry, reconciliation, clean-up) in the app process.
    jobs_enabled: bool = True

    # Refunds: support staff may refund up to this amount of an order in all (its earlier refunds
    # count), this many days after payment; admins (refunds:unlimited) have no limit.
    refund_support_max_cents: int = Field(default=5000, ge=0)
    refund_support_max_days: int = Field(default=30, ge=0)
    # Reconciliation with Stripe: how often, how old an unpaid order must be before Stripe is
    # asked about it, and how far back refunds and undelivered events are looked for.
    reconcile_every_minutes: int = Field(default=15, ge=1)
    reconcile_min_age_minutes: int = Field(default=10, ge=0)
    reconcile_lookback_days: int = Field(default=30, ge=1, le=30)
    shop_admin_email: str | None = None
    shop_admin_password: str | None = None

    api_page_size_max: int = Field(default=100, ge=1, le=1000)
    # Largest request body an API endpoint reads (JSON, forms); uploads have their own limits
    # above and the Stripe webhook its own (2 MiB).
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Passwords: argon2id; the bounds keep every deployment at or above OWASP's minimums.
    argon2_time_cost: int = Field(default=2, ge=2, le=20)
    argon2_memory_kib: int = Field(default=65536, ge=19456, le=1048576)
    argon2_parallelism: int = Field(default=1, ge=1, le=1)
    password_min_length: int = Field(default=8, ge=8, le=64)
    password_max_length: int = Field(default=1024, ge=64, le=4096)

    # Sessions and tokens.
    access_token_minutes: int = Field(default=15, ge=1, le=15)
    session_idle_minutes: int = Field(default=7 * 24 * 60, ge=5)
    session_absolute_minutes: int = Field(default=30 * 24 * 60, ge=15)
    password_reset_minutes: int = Field(default=30, ge=5, le=59)
    email_verification_hours: int = Field(default=48, ge=1, le=24 * 14)
    # Ended sessions, spent refresh tokens and used emailed links are deleted after this.
    auth_record_retention_days: int = Field(default=30, ge=1)

    # Sign-in throttling: exponential delay after the free failures, per IP + account and per IP.
    login_free_failures: int = Field(default=5, ge=1)
    login_ip_free_failures: int = Field(default=100, ge=1)
    login_delay_base_seconds: float = Field(default=1.0, gt=0)
    login_delay_max_seconds: float = Field(default=900.0, gt=0)
    login_account_failures_per_hour: int = Field(default=100, ge=1)

    # API-wide rate limits (`limits` notation), on Redis when REDIS_URL is set.
    rate_limit_enabled: bool = True
    rate_limit_per_ip: str = "3000/minute"
    rate_limit_per_user: str = "3000/minute"
    rate_limit_namespace: str = "shop"

    # CSRF: origins besides PUBLIC_URL's whose cookie-borne writes are accepted (comma-separated,
    # e.g. the dev frontend "http://localhost:3000").
    csrf_trusted_origins: str = ""

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 172.18.0.1 or 172.16.0.0/12)"
                ) from None
        return ",".join(entries)

    @field_validator("shop_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        name = value.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name (e.g. America/Toronto, America/Vancouver, UTC)"
            ) from None
        return name

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        """The shop runs on SQLite and PostgreSQL (with psycopg, which it ships); any other URL
        would fail later, at the first query, with a driver's traceback. The message never
        repeats the URL: it may hold a password."""
        if not value:
            return None
        scheme, separator, rest = value.partition("://")
        if not separator or not rest.strip("/"):
            raise ValueError(
                "must be a URL: postgresql://user:password@host/database or sqlite:///path"
            )
        if scheme.lower() not in DATABASE_SCHEMES:
            raise ValueError(
                "the shop runs on PostgreSQL (postgresql://…) or SQLite (sqlite:///…), not this database"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("storage_url")
    @classmethod
    def _supported_storage(cls, value: str | None) -> str | None:
        # The same test storage itself uses to pick a backend (imported here: it imports us).
        from shop.services.storage import object_storage_location

        object_storage_location(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _public_url_follows_port(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://localhost:{self.port}"
        return self

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.shop_env == "production":
            if self.secret_key is None or self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("SECRET_KEY must be set to a real secret in production")
            if len(self.secret_key) < 32:
                raise ValueError("SECRET_KEY must be at least 32 characters in production")
        return self

    @cached_property  # read on every request; settings never change once made
    def data_dir(self) -> Path:
        return self.shop_data_dir.resolve()

    @cached_property
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
    def trusted_origins(self) -> frozenset[str]:
        """PUBLIC_URL's origin plus CSRF_TRUSTED_ORIGINS, lower-cased, without trailing slash."""
        extra = (item.strip().rstrip("/").lower() for item in self.csrf_trusted_origins.split(","))
        return frozenset({self.public_origin.lower(), *(item for item in extra if item)})

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

    @cached_property
    def effective_secret_key(self) -> str:
        """SECRET_KEY, or outside production one generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        return _read_or_create_secret(self.data_dir / "secret_key")

    @cached_property
    def effective_stripe_webhook_secret(self) -> str:
        if self.stripe_webhook_secret:
            return self.stripe_webhook_secret
        return _read_or_create_secret(self.data_dir / "stripe_webhook_secret", prefix="whsec_")

    def ensure_data_dir(self) -> Path:
        """The data dir, made readable by its owner only when the shop creates it: it holds
        the database, customers' files and mail with reset links. An existing one is left as
        it is (the image makes /data 0750 for its user)."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.data_dir

    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


def _read_or_create_secret(path: Path, prefix: str = "") -> str:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
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


def describe_problems(error: ValidationError) -> list[str]:
    """One line per refused setting, "setting NAME: reason", never with a value in it."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        reason = str(problem["msg"]).removeprefix("Value error, ")
        names = [str(part).upper() for part in problem["loc"] if isinstance(part, str)]
        if not names:
            # A check of several settings together names its setting first ("SECRET_KEY must …").
            first, _, rest = reason.partition(" ")
            if first.lower() in Settings.model_fields and rest:
                names, reason = [first], rest
        lines.append(f"setting {'.'.join(names) or '(several)'}: {reason}")
    return lines
