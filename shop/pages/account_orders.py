"""/account/orders and /account/orders/[number]: the customer's orders, and one in detail.

Every handler resolves the signed-in user on the server (from the websocket handshake's cookie)
and checks `orders:read_own` (`BuyerState.require`), then reads only that user's orders: someone
else's order number shows the same "not found" as a number that does not exist. Checkouts that were never paid (`pending`,
`canceled`) are not listed: they are carts on their way to payment, not orders yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import reflex as rx

from shop.components.layout import link, not_allowed_notice, page
from shop.models import Order, OrderStatus
from shop.services import clock, refunds
from shop.services import orders as order_service
from shop.services.errors import NotFound
from shop.services.money import format_money
from shop.services.tax import tax_line_label
from shop.state.buyer import READ_OWN_ORDERS, BuyerState
from shop.state.catalog_data import in_session

LISTED_LIMIT = 200
HIDDEN_STATUSES = {OrderStatus.PENDING.value, OrderStatus.CANCELED.value}
STATUS_LABELS = {
    OrderStatus.PENDING.value: "Awaiting payment",
    OrderStatus.PAID.value: "Paid",
    OrderStatus.FAILED.value: "Payment failed",
    OrderStatus.REFUNDED.value: "Refunded",
    OrderStatus.PARTIALLY_REFUNDED.value: "Partly refunded",
    OrderStatus.CANCELED.value: "Canceled",
}


def day(moment: datetime | None) -> str:
    """`28 Nov 2026`, the shop's day (SHOP_TIME_ZONE)."""
    if moment is None:
        return ""
    shown = clock.local(moment)
    return f"{shown.day} {shown:%b %Y}"


def order_summary(order: Order) -> dict[str, str]:
    number = order.number or str(order.id)
    return {
        "number": number,
        "date": day(order.paid_at or order.created_at),
        "status": order.status,
        "status_label": STATUS_LABELS.get(order.status, order.status.replace("_", " ").title()),
        "total": format_money(order.total_amount, order.currency),
        "href": f"/account/orders/{number}",
    }


def customer_orders(session: Any, user_id: int) -> list[dict[str, str]]:
    rows = order_service.list_orders(session=session, user_id=user_id, limit=LISTED_LIMIT)
    return [order_summary(order) for order in rows if order.status not in HIDDEN_STATUSES]


def order_view(session: Any, user_id: int, reference: str) -> dict[str, Any] | None:
    """One of the user's orders with its lines and taxes, as display strings; None when it is
    not theirs or does not exist."""
    try:
        order = order_service.find_order(session=session, reference=reference, user_id=user_id)
    except NotFound:
        return None
    if order.status in HIDDEN_STATUSES:
        return None
    detail = order_service.order_detail(session=session, order=order)

    def money(amount: int) -> str:
        return format_money(amount, order.currency)

    items = [
        {
            "name": item.product_name,
            "quantity": str(item.quantity),
            "unit": money(item.price_at_time),
            "total": money(item.price_at_time * item.quantity),
        }
        for item in detail.items
    ]
    taxes = [
        {
            "label": tax_line_label(name=tax.name, rate=tax.rate, jurisdiction=tax.jurisdiction),
            "amount": money(tax.amount),
        }
        for tax in detail.tax_lines
    ]
    refunded = refunds.refunded_amount(session=session, order_id=order.id or 0)
    summary = order_summary(order)
    summary.update(
        refunded=money(refunded) if refunded else "",
        subtotal=money(order.subtotal_amount),
        discount=money(-order.discount_amount) if order.discount_amount else "",
        tax_total=money(order.tax_amount),
        placed=day(order.created_at),
        paid=day(order.paid_at),
        receipt_href=f"/account/orders/{summary['number']}/receipt",
        delivered="yes" if order.status == OrderStatus.PAID.value else "",
    )
    return {"order": summary, "items": items, "taxes": taxes}


class AccountOrdersState(BuyerState):
    orders_loaded: bool = False
    orders: list[dict[str, str]] = []

    @rx.event
    async def load(self):
        self.orders_loaded = False
        user = await self._require(READ_OWN_ORDERS)
        if user is None:
            self.orders = []
            return self._refusal()
        self.orders = await in_session(lambda s: customer_orders(s, user.id))
        self.orders_loaded = True
        return None


class AccountOrderState(BuyerState):
    order_loaded: bool = False
    order_found: bool = False
    order: dict[str, str] = {}
    items: list[dict[str, str]] = []
    taxes: list[dict[str, str]] = []

    @rx.var
    def order_title(self) -> str:
        return f"Order {self.order.get('number', '')}" if self.order_found else "Order"

    @rx.event
    async def load(self):
        self.order_loaded = False
        user = await self._require(READ_OWN_ORDERS)
        if user is None:
            self.order_found, self.order, self.items, self.taxes = False, {}, [], []
            return self._refusal()
        reference = self.router.url.path.rstrip("/").rsplit("/", 1)[-1][:40]
        view = await in_session(lambda s: order_view(s, user.id, reference)) if reference else None
        self.order_found = view is not None
        self.order = view["order"] if view else {}
        self.items = view["items"] if view else []
        self.taxes = view["taxes"] if view else []
        self.order_loaded = True
        return None


# --- components --------------------------------------------------------------------------------


def account_tabs(current: str) -> rx.Component:
    """The customer's own pages; `current` is marked for screen readers and styled."""
    tabs = [
        ("Profile", "/account"),
        ("Orders", "/account/orders"),
        ("Downloads", "/account/downloads"),
        ("Subscriptions", "/account/subscriptions"),
    ]
    return rx.el.nav(
        rx.el.ul(
            *[
                rx.el.li(
                    link(
                        label, to=href, class_name="acct-tab acct-tab-current", aria_current="page"
                    )
                    if href == current
                    else link(label, to=href, class_name="acct-tab")
                )
                for label, href in tabs
            ],
            class_name="acct-tabs",
        ),
        aria_label="Your account",
    )


def status_badge(status: Any, label: Any) -> rx.Component:
    return rx.el.span(label, class_name="acct-status acct-status-" + status)


def account_frame(current: str, title: Any, *children: rx.Component) -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                account_tabs(current),
                rx.el.h1(title, class_name="page-title"),
                rx.cond(BuyerState.refused, not_allowed_notice(), rx.fragment(*children)),
                class_name="container acct",
            ),
            class_name="section",
        )
    )


def loading(text: str) -> rx.Component:
    return rx.el.p(text, class_name="muted", aria_busy="true")


def _order_row(order: Any) -> rx.Component:
    return rx.el.tr(
        rx.el.th(link(order["number"], to=order["href"], class_name="acct-strong"), scope="row"),
        rx.el.td(order["date"]),
        rx.el.td(status_badge(order["status"], order["status_label"])),
        rx.el.td(order["total"], class_name="acct-num"),
        rx.el.td(link("View", to=order["href"], aria_label="View order " + order["number"])),
    )


def orders_table() -> rx.Component:
    return rx.el.div(
        rx.el.table(
            rx.el.caption("Your orders, newest first", class_name="visually-hidden"),
            rx.el.thead(
                rx.el.tr(
                    rx.el.th("Order", scope="col"),
                    rx.el.th("Date", scope="col"),
                    rx.el.th("Status", scope="col"),
                    rx.el.th("Total", scope="col", class_name="acct-num"),
                    rx.el.th(rx.el.span("Details", class_name="visually-hidden"), scope="col"),
                )
            ),
            rx.el.tbody(rx.foreach(AccountOrdersState.orders, _order_row)),
            class_name="acct-table",
        ),
        class_name="acct-table-wrap",
    )


def no_orders() -> rx.Component:
    return rx.el.div(
        rx.el.p("You have no orders yet.", class_name="acct-empty-title"),
        rx.el.p("When you buy something, it shows up here with its receipt.", class_name="muted"),
        link("Browse the catalogue", to="/products", class_name="button button-primary"),
        class_name="empty-state",
    )


def account_orders_page() -> rx.Component:
    return account_frame(
        "/account/orders",
        "Your orders",
        rx.cond(
            AccountOrdersState.orders_loaded,
            rx.cond(AccountOrdersState.orders.length() > 0, orders_table(), no_orders()),  # type: ignore[attr-defined]
            loading("Loading your orders…"),
        ),
    )


def _item_row(item: Any) -> rx.Component:
    return rx.el.tr(
        rx.el.th(item["name"], scope="row"),
        rx.el.td(item["quantity"], class_name="acct-num"),
        rx.el.td(item["unit"], class_name="acct-num"),
        rx.el.td(item["total"], class_name="acct-num"),
    )


def _tax_row(tax: Any) -> rx.Component:
    return rx.el.tr(
        rx.el.th(tax["label"], scope="row", col_span=3),
        rx.el.td(tax["amount"], class_name="acct-num"),
    )


def _total_row(label: str, value: Any, *, strong: bool = False) -> rx.Component:
    return rx.el.tr(
        rx.el.th(label, scope="row", col_span=3),
        rx.el.td(value, class_name="acct-num"),
        class_name="acct-total-row acct-grand-total" if strong else "acct-total-row",
    )


def order_details() -> rx.Component:
    o = AccountOrderState.order
    return rx.el.div(
        rx.el.dl(
            rx.el.div(rx.el.dt("Status"), rx.el.dd(status_badge(o["status"], o["status_label"]))),
            rx.el.div(rx.el.dt("Placed"), rx.el.dd(o["placed"])),
            rx.cond(o["paid"] != "", rx.el.div(rx.el.dt("Paid"), rx.el.dd(o["paid"]))),
            rx.el.div(rx.el.dt("Total"), rx.el.dd(o["total"])),
            rx.cond(o["refunded"] != "", rx.el.div(rx.el.dt("Refunded"), rx.el.dd(o["refunded"]))),
            class_name="acct-facts",
        ),
        rx.el.div(
            rx.el.table(
                rx.el.caption("Items, taxes and total", class_name="visually-hidden"),
                rx.el.thead(
                    rx.el.tr(
                        rx.el.th("Item", scope="col"),
                        rx.el.th("Qty", scope="col", class_name="acct-num"),
                        rx.el.th("Price", scope="col", class_name="acct-num"),
                        rx.el.th("Amount", scope="col", class_name="acct-num"),
                    )
                ),
                rx.el.tbody(rx.foreach(AccountOrderState.items, _item_row)),
                rx.el.tfoot(
                    _total_row("Subtotal", o["subtotal"]),
                    rx.cond(o["discount"] != "", _total_row("Discount", o["discount"])),
                    rx.foreach(AccountOrderState.taxes, _tax_row),
                    _total_row("Total", o["total"], strong=True),
                ),
                class_name="acct-table",
            ),
            class_name="acct-table-wrap",
        ),
        rx.el.div(
            link("View receipt", to=o["receipt_href"], class_name="button button-primary"),
            rx.cond(
                o["delivered"] != "",
                link("Your downloads", to="/account/downloads", class_name="button button-ghost"),
            ),
            # Not "All orders": the "Orders" tab above is matched by that name too.
            link("Back to the order list", to="/account/orders", class_name="button button-ghost"),
            class_name="acct-actions",
        ),
    )


def order_not_found() -> rx.Component:
    return rx.el.div(
        rx.el.p("We could not find this order in your account.", class_name="acct-empty-title"),
        rx.el.p(
            "Check the order number, or sign in with the account you bought with.",
            class_name="muted",
        ),
        link("Your orders", to="/account/orders", class_name="button button-primary"),
        class_name="empty-state",
    )


def account_order_page() -> rx.Component:
    return account_frame(
        "/account/orders",
        AccountOrderState.order_title,
        rx.cond(
            AccountOrderState.order_loaded,
            rx.cond(AccountOrderState.order_found, order_details(), order_not_found()),
            loading("Loading the order…"),
        ),
    )
