"""The Sandbox object: configuration, storage, webhook targets; and helpers to serve it."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from .store import Store
from .webhooks import CLI_TARGET, Deliverer

DEFAULT_PORT = 12111


class Sandbox:
    def __init__(
        self,
        data: str | None = None,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        retry_base: float = 1.0,
        max_attempts: int = 8,
        public_url: str | None = None,
        control_open: bool = False,
    ) -> None:
        self.store = Store(data or ":memory:")
        self.webhook_url = webhook_url or None
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self.public_url = public_url.rstrip("/") if public_url else None
        self.control_open = control_open
        if webhook_secret:
            self.webhook_secret = webhook_secret
        else:
            saved = self.store.kv_get("webhook_secret")
            if not saved:
                from .core import rand

                saved = "whsec_" + rand(32)
                self.store.kv_put("webhook_secret", saved)
            self.webhook_secret = saved
        self.deliverer = Deliverer(self)
        self.app = None

    # -- webhook plumbing used by core.emit ----------------------------------------------------
    def webhook_targets(self, event_type: str) -> list[str]:
        from .events import event_matches

        targets = []
        for we in self.store.all_of("webhook_endpoint"):
            if we.get("status") == "enabled" and any(
                event_matches(p, event_type) for p in we.get("enabled_events") or []
            ):
                targets.append(we["id"])
        if self.webhook_url:
            targets.append(CLI_TARGET)
        return targets

    def enqueue(self, event_id: str, targets: list[str]) -> None:
        self.deliverer.enqueue(event_id, targets)

    def wake_deliverer(self) -> None:
        self.deliverer.wake()

    def asgi(self):
        if self.app is None:
            from .app import build_app

            self.app = build_app(self)
        return self.app

    # -- serving --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Run the sandbox with uvicorn on a thread; yields its base URL."""
        import uvicorn

        # Bound here and handed over: a port picked free and bound later can be taken by
        # another process in between.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.asgi(), log_level="warning", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="stripe-sandbox", daemon=True
        )
        thread.start()
        deadline = time.time() + 15
        while not server.started:
            if not thread.is_alive() or time.time() > deadline:
                raise RuntimeError("the stripe sandbox did not start")
            time.sleep(0.01)
        try:
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
            self.store.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def create_app(
    data: str | None = None,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    retry_base: float | None = None,
    **kw: Any,
):
    """An ASGI app for the sandbox (env vars fill what is not given)."""
    sb = Sandbox(
        data or os.environ.get("STRIPE_SANDBOX_DATA") or "data/stripe_sandbox.sqlite3",
        webhook_url=webhook_url or os.environ.get("STRIPE_SANDBOX_WEBHOOK_URL"),
        webhook_secret=webhook_secret or os.environ.get("STRIPE_SANDBOX_WEBHOOK_SECRET"),
        retry_base=retry_base
        if retry_base is not None
        else float(os.environ.get("STRIPE_SANDBOX_RETRY_BASE", "1.0")),
        **kw,
    )
    return sb.asgi()
