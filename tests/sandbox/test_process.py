"""Persistence across restarts, and the `python -m stripe_sandbox` command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import stripe

from stripe_sandbox import Sandbox, free_port

from .conftest import RETURN_URL, Receiver, make_client

ROOT = Path(__file__).resolve().parents[2]


def test_restart_keeps_objects_idempotency_and_pending_webhooks(
    tmp_path: Path, receiver: Receiver
) -> None:
    data = str(tmp_path / "persist.sqlite3")
    key = str(uuid.uuid4())
    with Sandbox(data, retry_base=0.05).serve() as url:
        c = make_client(url)
        c.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
        httpx.post(f"{url}/_sandbox/webhooks/pause").raise_for_status()
        cus = c.v1.customers.create(
            params={"email": "keep@example.com"}, options={"idempotency_key": key}
        )
        pi = c.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "customer": cus.id,
                "confirm": True,
                "return_url": RETURN_URL,
                "payment_method": "pm_card_visa",
            }
        )
    assert receiver.ok_events() == []
    with Sandbox(data, retry_base=0.05).serve() as url:
        c = make_client(url)
        assert c.v1.customers.retrieve(cus.id).email == "keep@example.com"
        again = c.v1.customers.create(
            params={"email": "keep@example.com"}, options={"idempotency_key": key}
        )
        assert again.id == cus.id
        assert c.v1.payment_intents.retrieve(pi.id).status == "succeeded"
        evts = receiver.wait_for(lambda evts: len(evts) == 4)
        assert [e["type"] for e in evts] == [
            "customer.created",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
        ]


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("sandbox did not start")


def test_command_line_flags_and_env(tmp_path: Path, receiver: Receiver) -> None:
    port = free_port()
    data = tmp_path / "cli.sqlite3"
    env = {
        **os.environ,
        "STRIPE_SANDBOX_PORT": str(port),
        "STRIPE_SANDBOX_WEBHOOK_SECRET": "whsec_env_secret",
        "STRIPE_SANDBOX_RETRY_BASE": "0.05",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_sandbox",
            "--data",
            str(data),
            "--webhook-url",
            receiver.url,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_up(url, proc)
        stripe_client = make_client(url)
        cus = stripe_client.v1.customers.create(params={"name": "CLI"})
        evts = receiver.wait_for(lambda evts: len(evts) == 1)
        assert evts[0]["data"]["object"]["id"] == cus.id
        raw = receiver.requests[0]
        stripe.Webhook.construct_event(raw["body"], raw["signature"], "whsec_env_secret")
        assert data.exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_generated_webhook_secret_is_written_to_the_secret_file(
    tmp_path: Path, receiver: Receiver
) -> None:
    port = free_port()
    secret_file = tmp_path / "secrets" / "stripe_webhook_secret"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_sandbox",
            "--port",
            str(port),
            "--data",
            str(tmp_path / "s.sqlite3"),
            "--webhook-url",
            receiver.url,
            "--webhook-secret-file",
            str(secret_file),
            "--retry-base",
            "0.05",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_up(url, proc)
        secret = secret_file.read_text().strip()
        assert secret.startswith("whsec_")
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        assert httpx.get(f"{url}/_sandbox/webhooks").json()["webhook_secret"] == secret
        make_client(url).v1.products.create(params={"name": "Signed"})
        receiver.wait_for(lambda evts: len(evts) == 1)
        raw = receiver.requests[0]
        assert (
            stripe.Webhook.construct_event(raw["body"], raw["signature"], secret).type
            == "product.created"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
