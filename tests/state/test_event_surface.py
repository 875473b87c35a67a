"""What a browser may call: Reflex makes every public method of a State an event handler that
any page's websocket can invoke with arguments of its choosing. So the helpers that find the
signed-in user, check permissions or count a cart are private (`_require`, `_current_user`,
…), and no handler takes anything but plain data from the page."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, get_type_hints

import reflex as rx

import shop.pages

# Every page's State, registered by importing the page modules (not the app: building it
# here would fix Reflex's config before the web tests set theirs).
for module in pkgutil.iter_modules(shop.pages.__path__):
    importlib.import_module(f"shop.pages.{module.name}")

PLAIN = {str, int, bool, float, dict[str, Any], dict[str, str]}


def _shop_states(state: type[rx.State]) -> list[type[rx.State]]:
    found = []
    for sub in state.get_substates():
        if sub.__module__.startswith("shop."):
            found.append(sub)
        found.extend(_shop_states(sub))
    return found


def test_no_event_handler_takes_anything_but_plain_data_from_the_page():
    # given every event handler the shop's pages expose to the browser
    offending = []
    for state in _shop_states(rx.State):
        for name, handler in state.event_handlers.items():
            function = handler.fn
            if not function.__module__.startswith("shop."):
                continue  # Reflex's own (setvar)
            hints = get_type_hints(function)
            for parameter in inspect.signature(function).parameters.values():
                if parameter.name == "self":
                    continue
                if hints.get(parameter.name) not in PLAIN:
                    offending.append(f"{state.__name__}.{name}({parameter.name})")
    # then none takes a user, an id list or any object the server should decide itself
    assert offending == []


def test_the_permission_and_session_helpers_are_not_event_handlers():
    from shop.state.buyer import BuyerState
    from shop.state.session import SessionState
    from shop.state.staff import StaffState

    exposed = set(SessionState.event_handlers) | set(BuyerState.event_handlers)
    exposed |= set(StaffState.event_handlers)
    for helper in ("current_user", "require_user", "require", "refusal", "cart_owner"):
        assert helper not in exposed
    assert "refresh_cart_count" not in exposed
