"""Who is signed in, for the Reflex UI.

The session lives in the HttpOnly `shop_session` cookie, set and cleared by plain form posts
to /api/auth/login/form and /api/auth/logout/form (full page loads, so the event websocket
reconnects with the new cookie). Event handlers read it from the websocket handshake's Cookie
header on the server; the browser only ever receives display facts (email, name, whether to
show staff links), never a token.

Every handler that reads or changes protected data checks on the server itself: `_require(...)`
of shop.state.staff or shop.state.buyer where a permission guards it, `_current_user()` where
signing in is enough. The display vars below are not authorisation.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from shop.db import session_scope
from shop.services import auth, cart
from shop.services.auth import CurrentUser

STAFF_ROLES = ("admin", "support")


def access_for(user: CurrentUser | None, *any_of: str) -> str:
    """What a page needing one of `any_of` shows `user`: "sign_in", "forbidden" or "ok"."""
    if user is None:
        return "sign_in"
    if not any(user.can(permission) for permission in any_of):
        return "forbidden"
    return "ok"


class SessionState(rx.State):
    signed_in: bool = False
    user_email: str = ""
    user_name: str = ""
    is_admin: bool = False
    is_staff: bool = False
    # Items in the visitor's cart, for the header link; the cart pages keep it current.
    cart_count: int = 0

    async def _current_user(self) -> CurrentUser | None:
        """The live session's user, resolved on the server at every call (a revoked session,
        disabled account or changed role takes effect on the next event)."""
        return await asyncio.to_thread(
            auth.resolve_session_from_cookie_header, self.router.headers.cookie
        )

    def _show(self, user: CurrentUser | None) -> None:
        self.signed_in = user is not None
        self.user_email = user.email if user else ""
        self.user_name = (user.name or "") if user else ""
        self.is_admin = bool(user and "admin" in user.roles)
        self.is_staff = bool(user and any(role in STAFF_ROLES for role in user.roles))

    async def _require_user(self) -> CurrentUser | None:
        """The user, or None after sending the browser to /login (come back here after)."""
        user = await self._current_user()
        self._show(user)
        return user

    def _sign_in_redirect(self) -> EventSpec:
        """To /login, coming back to this very page after: its path and query string (e.g.
        /checkout/success?order=3); /login keeps `next` only when it is a local path."""
        url = self.router.url
        here = (url.path or "/") + (f"?{url.query}" if url.query else "")
        return rx.redirect(f"/login?next={quote(here, safe='/')}")

    def _cart_owner(self, user: CurrentUser | None) -> tuple[int | None, str | None]:
        """Whose cart this visitor sees: the account's, or the anonymous cookie's (read from the
        websocket handshake; the HttpOnly token never reaches page scripts)."""
        if user is not None:
            return user.id, None
        return None, cart.token_from_cookie_header(self.router.headers.cookie)

    async def _refresh_cart_count(self, user: CurrentUser | None) -> None:
        user_id, token = self._cart_owner(user)
        if user_id is None and token is None:
            self.cart_count = 0
            return

        def count() -> int:
            with session_scope() as session:
                found = cart.find_cart(session=session, token=token, user_id=user_id)
                return cart.view_cart(session=session, cart=found).item_count

        self.cart_count = await asyncio.to_thread(count)

    @rx.event
    async def load_session(self):
        """on_load of every page: refresh what the header shows."""
        user = await self._current_user()
        self._show(user)
        await self._refresh_cart_count(user)
