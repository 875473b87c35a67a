"""Fixtures for the Stripe sandbox's own tests: real servers on free ports, the official SDK."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from stripe_sandbox import Sandbox

SK = "sk_test_sandbox_suite"
PK = "pk_test_sandbox_suite"
# Server-side confirmations of intents with dynamic payment methods need one, as at Stripe.
RETURN_URL = "https://shop.example/return"


def make_client(base_url: str, key: str = SK, **kw: Any) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": base_url, "files": base_url, "connect": base_url},
        max_network_retries=0,
        **kw,
    )


class Server:
    """A running sandbox: its URL, SDK client and control helpers."""

    def __init__(self, sandbox: Sandbox, url: str) -> None:
        self.sandbox = sandbox
        self.url = url
        self.client = make_client(url)
        self.http = httpx.Client(base_url=url, timeout=30)

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.http.post(f"/_sandbox/{path}", json=body or {})
        assert r.status_code == 200, r.text
        return r.json()

    def get_control(self, path: str, **params: Any) -> dict[str, Any]:
        r = self.http.get(f"/_sandbox/{path}", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        return self.get_control("deliveries", **params)["data"]

    def flush(self, timeout: float = 10) -> dict[str, Any]:
        return self.control("webhooks/flush", {"timeout": timeout})


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One sandbox for tests that only create their own objects."""
    path = tmp_path_factory.mktemp("sandbox") / "shared.sqlite3"
    sb = Sandbox(str(path), retry_base=0.05)
    with sb.serve() as url:
        yield Server(sb, url)


@pytest.fixture
def client(shared: Server) -> stripe.StripeClient:
    return shared.client


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Server]:
    """A sandbox of its own (webhook tests: nothing else delivers to it)."""
    sb = Sandbox(str(tmp_path / "fresh.sqlite3"), retry_base=0.05, max_attempts=5)
    with sb.serve() as url:
        yield Server(sb, url)


class Receiver:
    """A webhook endpoint on a free port that records what it gets."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.status = 200
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                with outer.lock:
                    failing = outer.fail_next > 0
                    if failing:
                        outer.fail_next -= 1
                    outer.requests.append(
                        {
                            "body": body,
                            "signature": self.headers.get("Stripe-Signature"),
                            "failed": failing,
                            "at": time.time(),
                        }
                    )
                code = 500 if failing else outer.status
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def ok_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests if not r["failed"]]

    def wait_for(self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 10) -> list:
        deadline = time.time() + timeout
        while time.time() < deadline:
            evts = self.ok_events()
            if pred(evts):
                return evts
            time.sleep(0.02)
        raise AssertionError(f"timed out; received {[e['type'] for e in self.ok_events()]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


FIXTURES = json.loads(
    (Path(__file__).with_name("stripe-fixtures3.json")).read_text(encoding="utf-8")
)["resources"]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.set_default_timeout(10000)
    yield pg
    ctx.close()
