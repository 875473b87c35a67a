"""Fixtures shared by the API tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from stripe_sandbox import free_port


@pytest.fixture
def live_api(shop_env: Path) -> Iterator[str]:
    """The API app served by uvicorn on a free port (for what TestClient cannot show: a
    client that goes away midway, requests truly in parallel)."""
    from shop.api.app import create_api_app

    port = free_port()
    config = uvicorn.Config(
        create_api_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
