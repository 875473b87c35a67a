"""Base state for the buyer's own pages: account orders and downloads, checkout, receipts.

The same check as the staff pages (shop.state.staff), with the buyer's permissions: every
on_load and event handler calls `_require(...)` on the server. Anonymous visitors are sent to
/login; a signed-in account without the permission (say its customer role was revoked) sees
"not allowed" and none of its data, as the API answers it 403.
"""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from shop.services.auth import CurrentUser
from shop.state.session import SessionState, access_for

READ_OWN_ORDERS = "orders:read_own"
READ_ALL_ORDERS = "orders:read_all"
READ_OWN_DOWNLOADS = "downloads:read_own"


class BuyerState(SessionState):
    # "" until the first check; "ok", "sign_in" or "forbidden" after it.
    access: str = ""

    async def _require(self, *any_of: str) -> CurrentUser | None:
        """The user when they hold one of `any_of`, else None (and the page shows why)."""
        user = await self._require_user()
        self.access = access_for(user, *any_of)
        return user if self.access == "ok" else None

    def _refusal(self) -> EventSpec | None:
        """What a refused handler answers: the sign-in page for anonymous visitors; nothing
        more for the others, whose page now shows "not allowed"."""
        return self._sign_in_redirect() if self.access == "sign_in" else None

    @rx.var
    def refused(self) -> bool:
        return self.access == "forbidden"
