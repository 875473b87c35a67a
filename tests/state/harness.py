"""Driving a page's State handlers without a browser: a state tree of the page's substate with
the router data a websocket handshake would give it (the page's URL and the Cookie header)."""

from __future__ import annotations

from typing import TypeVar

import reflex as rx
from reflex.istate.data import RouterData
from reflex.state import State

PageState = TypeVar("PageState", bound=rx.State)


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
