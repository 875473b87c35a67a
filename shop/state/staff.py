"""Base state for admin and support pages: the permission check every handler makes.

Admin pages are hidden from the navigation of those who cannot use them, and every on_load
and event handler also calls `_require(permission)` on the server: anonymous visitors are
sent to /login, signed-in users without the permission see "not allowed" and get no data.
"""

from __future__ import annotations

import reflex as rx

from shop.services.auth import CurrentUser
from shop.state.session import SessionState, access_for


class StaffState(SessionState):
    # "" until the first check; "ok", "sign_in" or "forbidden" after it.
    access: str = ""

    async def _require(self, permission: str) -> CurrentUser | None:
        """The user when they hold `permission`, else None (and the page shows why)."""
        user = await self._require_user()
        self.access = access_for(user, permission)
        return user if self.access == "ok" else None

    @rx.var
    def allowed(self) -> bool:
        return self.access == "ok"
