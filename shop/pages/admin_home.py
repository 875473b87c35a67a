"""/admin: the staff overview, linking to each section the user may use."""

from __future__ import annotations

import reflex as rx

from shop.components.admin import ADMIN_SECTIONS, admin_page
from shop.components.layout import link
from shop.state.session import SessionState
from shop.state.staff import StaffState


class AdminHomeState(StaffState):
    @rx.event
    async def load(self):
        await self.require("catalog:read")


def _card(label: str, path: str, shown_to: str) -> rx.Component:
    card = rx.el.li(link(label, to=path, class_name="card-link"))
    return card if shown_to == "staff" else rx.cond(SessionState.is_admin, card)


def admin_home_page() -> rx.Component:
    return admin_page(
        "Administration",
        rx.el.p("Run the shop: catalog, orders, customers and the books.", class_name="muted"),
        rx.el.ul(
            *[_card(label, path, shown_to) for label, path, shown_to in ADMIN_SECTIONS[1:]],
            class_name="admin-cards",
        ),
        state=AdminHomeState,
    )
