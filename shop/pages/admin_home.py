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


# What each section is for, in the merchant's words (the card under its name).
PURPOSES: dict[str, str] = {
    "/admin/products": "Create and edit products, upload files and images, see Stripe sync.",
    "/admin/categories": "Name, order and tidy the catalogue's categories.",
    "/admin/orders": "Find an order, see its payment timeline, refund, resend receipts.",
    "/admin/customers": "Look up a customer's orders, downloads and sessions.",
    "/admin/promo-codes": "Create discount codes and withdraw them.",
    "/admin/reconciliation": "Repair what missed webhooks left behind; see the backlog.",
    "/admin/audit": "Who changed what, and when.",
}


def _card(label: str, path: str, shown_to: str) -> rx.Component:
    # The link's name stays the section's name; the whole card is its click target (CSS).
    card = rx.el.li(
        link(label, to=path, class_name="admin-card-link"),
        rx.el.p(PURPOSES.get(path, ""), class_name="admin-card-text"),
        class_name="admin-card",
    )
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
