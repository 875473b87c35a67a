"""Driving a page's State handlers without a browser: a state tree of the page's substate with
the router data a websocket handshake would give it (the page's URL and the Cookie header)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import reflex as rx
from reflex.istate.data import RouterData
from reflex.state import State

PageState = TypeVar("PageState", bound=rx.State)
Result = TypeVar("Result")


def page_state(state_class: type[PageState], *, url: str, cookie: str = "") -> PageState:
    """A fresh `state_class` as it is on the page `url` ("/cart", "/admin/orders?offset=50")
    for a browser sending `cookie` (e.g. "shop_session=<token>")."""
    root = State(_reflex_internal_init=True)  # type: ignore[call-arg]
    state = root.get_substate(state_class.get_full_name().split("."))
    state.router = RouterData.from_router_data(
        {
            "headers": {"origin": "http://shop.test", "cookie": cookie},
            "pathname": url.split("?", 1)[0],
            "asPath": url,
        }
    )
    assert isinstance(state, state_class)
    return state


def run(handler_call: Coroutine[Any, Any, Result]) -> Result:
    """Await one handler call on an event loop of its own thread: the browser tests' Playwright
    keeps a loop running in the main thread for the rest of the session, where neither
    asyncio.run nor pytest-asyncio may start another."""
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(asyncio.run, handler_call).result()


def run_through(handler_updates: AsyncIterator[Any]) -> None:
    """Run a handler that yields updates (an async generator) to its end, like `run`."""

    async def drain() -> None:
        async for _ in handler_updates:
            pass

    run(drain())
