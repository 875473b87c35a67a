"""/admin/orders and /admin/orders/[number]: staff find orders, see their payment timeline,
refund them, resend the receipt or download links, and repair a customer's downloads.

The filters live in the query string (a filtered list is a link one can share or reload).
Every load and every action checks its permission on the server first: `orders:read_all` to
see, `orders:write` to resend or repair, `refunds:create` to refund (and the refund service
applies support's policy on top).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import reflex as rx

from shop.components.admin import (
    admin_page,
    back_link,
    data_table,
    loading_notice,
    one_record,
    page_links,
)
from shop.components.forms import field
from shop.components.layout import link
from shop.services import backoffice, clock, ids, money, refunds
from shop.services.errors import ShopError
from shop.services.money import format_money
from shop.services.tax import tax_line_label
from shop.state.catalog_data import in_session
from shop.state.staff import StaffState

PER_PAGE = 50
READ = "orders:read_all"
WRITE = "orders:write"
REFUND = "refunds:create"
FILTERS = ("q", "status", "since", "until")


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def when(value: datetime | None) -> str:
    return clock.format_moment(value) if value else "—"


def orders_href(filters: dict[str, str], offset: int = 0) -> str:
    params = {k: v for k, v in filters.items() if v}
    if offset:
        params["offset"] = str(offset)
    return "/admin/orders" + (f"?{urlencode(params)}" if params else "")


def order_row(row: backoffice.OrderRow) -> dict[str, str]:
    return {
        "id": str(row.id),
        "number": row.number or str(row.id),
        "href": f"/admin/orders/{quote(row.number or str(row.id))}",
        "status": row.status,
        "total": format_money(row.total, row.currency),
        "email": row.customer_email or "—",
        "created": when(row.created_at),
    }


def parse_amount(text: str) -> int | None:
    """ "12.50" or "12,50" → 1250 minor units; "" → None (refund all that is left). Read by
    the same rule as prices (`money.parse_amount`): a decimal comma is never taken for a
    thousands comma, so "1,50" refunds $1.50, not $150."""
    if not text.strip():
        return None
    try:
        cents = money.parse_amount(text, "cad")
    except ValueError as exc:
        raise ValueError("Write the amount like 12.50.") from exc
    if cents <= 0 or cents > 10**11:
        raise ValueError("Write a positive amount with at most two decimals, like 12.50.")
    return cents


class AdminOrdersState(StaffState):
    rows: list[dict[str, str]] = []
    q: str = ""
    status: str = ""
    since: str = ""
    until: str = ""
    total: int = 0
    filter_error: str = ""
    prev_href: str = ""
    next_href: str = ""
    loaded: bool = False

    @rx.event
    async def load(self):
        self.loaded = False
        self.rows = []
        if await self._require(READ) is None:
            return
        params = self.router.url.query_parameters
        self.q = (params.get("q") or "").strip()[:320]
        status = (params.get("status") or "").strip()
        self.status = status if status in backoffice.STATUSES else ""
        self.since = (params.get("since") or "")[:10]
        self.until = (params.get("until") or "")[:10]
        offset = ids.parse_offset(params.get("offset"))
        since_day, until_day = _day(self.since), _day(self.until)
        self.filter_error = ""
        if (self.since and since_day is None) or (self.until and until_day is None):
            self.filter_error = "Dates are written YYYY-MM-DD."
        # whole days of the shop's time zone, both included (the service's rule, as in the API)
        date_from, date_to = since_day, until_day
        q, status_filter = self.q or None, self.status or None

        def read(session: Any) -> tuple[list[backoffice.OrderRow], int]:
            return backoffice.search_orders(
                session=session,
                q=q,
                status=status_filter,
                date_from=date_from,
                date_to=date_to,
                offset=offset,
                limit=PER_PAGE,
            )

        try:
            found, self.total = await in_session(read)
        except ShopError as exc:  # a date the search cannot take (the very ends of the calendar)
            self.filter_error = exc.message
            found, self.total = [], 0
        self.rows = [order_row(row) for row in found]
        filters = {"q": self.q, "status": self.status, "since": self.since, "until": self.until}
        self.prev_href = orders_href(filters, max(offset - PER_PAGE, 0)) if offset else ""
        self.next_href = (
            orders_href(filters, offset + PER_PAGE) if offset + PER_PAGE < self.total else ""
        )
        self.loaded = True

    @rx.event
    async def apply(self, form: dict[str, Any]):
        if await self._require(READ) is None:
            return None
        filters = {name: str(form.get(name) or "").strip()[:320] for name in FILTERS}
        return rx.redirect(orders_href(filters))


STATUS_LABELS = {
    "pending": "Pending",
    "paid": "Paid",
    "failed": "Failed",
    "canceled": "Canceled",
    "refunded": "Refunded",
    "partially_refunded": "Partially refunded",
}


def status_badge(status: Any) -> rx.Component:
    """The order status in words ("Partially refunded"), styled by the status code."""
    return rx.el.span(
        rx.match(status, *STATUS_LABELS.items(), status),
        class_name=rx.match(
            status,
            ("paid", "badge badge-ok"),
            ("pending", "badge"),
            "badge badge-warn",
        ),
    )


def orders_filters() -> rx.Component:
    s = AdminOrdersState
    return rx.el.form(
        field(
            "Search",
            rx.el.input(
                id="orders-q",
                name="q",
                type="search",
                placeholder="Email, order number or Stripe id",
                default_value=s.q,
                key=s.q,
                class_name="input",
                max_length=320,
            ),
            control_id="orders-q",
        ),
        field(
            "Status",
            rx.el.select(
                rx.el.option("Any status", value=""),
                *[
                    rx.el.option(STATUS_LABELS.get(status, status), value=status)
                    for status in backoffice.STATUSES
                ],
                id="orders-status",
                name="status",
                default_value=s.status,
                key=s.status,
                class_name="input",
            ),
            control_id="orders-status",
        ),
        field(
            "From",
            rx.el.input(
                id="orders-since",
                name="since",
                type="date",
                default_value=s.since,
                key=s.since,
                class_name="input",
            ),
            control_id="orders-since",
        ),
        field(
            "Until",
            rx.el.input(
                id="orders-until",
                name="until",
                type="date",
                default_value=s.until,
                key=s.until,
                class_name="input",
            ),
            control_id="orders-until",
        ),
        rx.el.button("Search", type="submit", class_name="button button-primary"),
        on_submit=AdminOrdersState.apply,
        role="search",
        class_name="filters admin-filters",
    )


def orders_table() -> rx.Component:
    s = AdminOrdersState
    return rx.el.div(
        rx.el.table(
            rx.el.thead(
                rx.el.tr(
                    rx.el.th("Order", scope="col"),
                    rx.el.th("Customer", scope="col"),
                    rx.el.th("Status", scope="col"),
                    rx.el.th("Total", scope="col", class_name="num"),
                    rx.el.th("Placed", scope="col"),
                )
            ),
            rx.el.tbody(
                rx.foreach(
                    s.rows,
                    lambda row: rx.el.tr(
                        rx.el.td(link(row["number"], to=row["href"])),
                        rx.el.td(row["email"]),
                        rx.el.td(status_badge(row["status"])),
                        rx.el.td(row["total"], class_name="num"),
                        rx.el.td(row["created"], class_name="nowrap"),
                    ),
                )
            ),
            class_name="table",
        ),
        class_name="table-wrap",
    )


def admin_orders_page() -> rx.Component:
    s = AdminOrdersState
    return admin_page(
        "Orders",
        orders_filters(),
        rx.cond(
            s.filter_error != "",
            rx.el.p(s.filter_error, class_name="notice notice-error", role="alert"),
        ),
        rx.cond(
            s.loaded,
            rx.cond(
                s.total > 0,
                rx.fragment(
                    rx.el.p(
                        s.total, rx.cond(s.total == 1, " order", " orders"), class_name="muted"
                    ),
                    orders_table(),
                    page_links(
                        s.prev_href, s.next_href, prev_label="← Newer", next_label="Older →"
                    ),
                ),
                rx.el.p("No orders match.", class_name="muted"),
            ),
            loading_notice(),
        ),
        state=AdminOrdersState,
    )


# --- one order --------------------------------------------------------------------------------


def _overview_data(view: backoffice.OrderOverview) -> dict[str, Any]:
    order = view.order
    currency = order.currency

    def money(amount: int) -> str:
        return format_money(amount, currency)

    now = datetime.now(UTC)
    return {
        "order": {
            "id": str(order.id),
            "number": order.number or str(order.id),
            "status": order.status,
            "email": view.customer_email or "—",
            "customer_href": f"/admin/customers/{order.user_id}" if order.user_id else "",
            "payment_intent": order.stripe_payment_intent_id or "—",
            "subtotal": money(order.subtotal_amount),
            "discount_label": f"Discount ({view.promo_code})" if view.promo_code else "Discount",
            "discount": money(-order.discount_amount) if order.discount_amount else "",
            "tax": money(order.tax_amount),
            "total": money(order.total_amount),
            "refunded": money(view.refunded_total),
            "refundable": money(view.refundable),
            "created": when(order.created_at),
            "paid": when(order.paid_at),
            "payment_error": order.payment_error or "",
        },
        "taxes": [
            {
                "label": tax_line_label(name=t.name, rate=t.rate, jurisdiction=t.jurisdiction),
                "amount": money(t.amount),
            }
            for t in view.tax_lines
        ],
        "refundable": view.refundable,
        "paid": order.fulfilled_at is not None,
        "items": [
            {
                "name": item.product_name,
                "quantity": str(item.quantity),
                "amount": money(item.price_at_time * item.quantity),
            }
            for item in view.items
        ],
        "refunds": [
            {
                "id": r.stripe_refund_id,
                "amount": format_money(r.amount, r.currency),
                "status": r.status,
                "source": "in Stripe" if r.source == "stripe" else (r.requested_by or "shop"),
                "reason": r.reason or "",
                "at": when(r.created_at),
            }
            for r in view.refunds
        ],
        "grants": [
            {
                "id": str(g.id),
                "name": f"{g.product_name} — {g.file_name}",
                "left": f"{g.downloads_left} of {g.download_limit}",
                "expires": when(g.expires_at),
                "state": "revoked"
                if g.revoked_at
                else ("expired" if g.expires_at <= now else "active"),
            }
            for g in view.grants
        ],
        "timeline": [
            {
                "at": when(e.at),
                "type": e.type,
                "id": e.stripe_event_id,
                "state": "processed"
                if e.processed_at
                else (f"failed: {e.last_error}" if e.last_error else "waiting"),
            }
            for e in view.timeline
        ],
    }


class AdminOrderState(StaffState):
    order: dict[str, str] = {}
    items: list[dict[str, str]] = []
    taxes: list[dict[str, str]] = []
    refund_rows: list[dict[str, str]] = []
    grants: list[dict[str, str]] = []
    timeline: list[dict[str, str]] = []
    refundable: int = 0
    paid: bool = False
    can_refund: bool = False
    can_write: bool = False
    found: bool = False
    loaded: bool = False
    message: str = ""
    error: str = ""
    refund_error: str = ""

    def _reference(self) -> str:
        return self.router.url.path.rstrip("/").rsplit("/", 1)[-1]

    @rx.var
    def heading(self) -> str:
        """The page's one heading: the order's number once it is found, "Order not found"
        when the server has no such order, plain "Order" until then (and for visitors
        who may not see it)."""
        if not self.loaded:
            return "Order"
        if self.found and self.order.get("number"):
            return f"Order {self.order['number']}"
        return "Order not found"

    async def _read(self) -> None:
        reference = self._reference()

        def read(session: Any) -> dict[str, Any] | None:
            try:
                return _overview_data(
                    backoffice.order_overview(session=session, reference=reference)
                )
            except ShopError:
                return None

        data = await in_session(read)
        self.found = data is not None
        if data is None:
            return
        self.order = data["order"]
        self.items = data["items"]
        self.taxes = data["taxes"]
        self.refund_rows = data["refunds"]
        self.grants = data["grants"]
        self.timeline = data["timeline"]
        self.refundable = data["refundable"]
        self.paid = data["paid"]

    @rx.event
    async def load(self):
        self.loaded = False
        self.message = self.error = self.refund_error = ""
        user = await self._require(READ)
        if user is None:
            return
        self.can_refund = user.can(REFUND)
        self.can_write = user.can(WRITE)
        await self._read()
        self.loaded = True

    async def _act(self, permission: str, work: Any, done: str) -> None:
        """Run one staff action (after its permission check) and show what happened."""
        self.message = self.error = ""
        user = await self._require(permission)
        if user is None:
            self.error = "You are not allowed to do this."
            return
        ip = self.router.session.client_ip or None
        try:
            result = await in_session(lambda session: work(session, user, ip))
        except ShopError as exc:
            self.error = exc.message
            return
        self.message = done.format(result=result)
        await self._read()

    @rx.event
    async def refund(self, form: dict[str, Any]):
        self.refund_error = ""
        try:
            amount = parse_amount(str(form.get("amount") or ""))
        except ValueError as exc:
            self.refund_error = str(exc)
            return
        reason = str(form.get("reason") or "").strip()[:500]
        order_id = int(self.order.get("id") or 0)

        def work(session: Any, user: Any, ip: str | None) -> str:
            outcome = refunds.refund_order(
                session=session, order_id=order_id, actor=user, amount=amount, reason=reason, ip=ip
            )
            return format_money(outcome.amount, outcome.currency)

        await self._act(REFUND, work, "Refunded {result}.")
        if self.error:
            self.refund_error, self.error = self.error, ""

    @rx.event
    async def resend_receipt(self):
        order_id = int(self.order.get("id") or 0)
        await self._act(
            WRITE,
            lambda s, user, ip: backoffice.resend_receipt(
                session=s, order_id=order_id, actor=user, ip=ip
            ),
            "Receipt sent to {result}.",
        )

    @rx.event
    async def resend_downloads(self):
        order_id = int(self.order.get("id") or 0)
        await self._act(
            WRITE,
            lambda s, user, ip: backoffice.resend_download_links(
                session=s, order_id=order_id, actor=user, ip=ip
            ),
            "Download links sent ({result}).",
        )

    @rx.event
    async def reset_grant(self, grant_id: str):
        target = ids.parse_id(grant_id)
        if target is None:
            return
        await self._act(
            WRITE,
            lambda s, user, ip: (
                backoffice.reset_download_count(session=s, grant_id=target, actor=user, ip=ip).id
            ),
            "The download count was reset: the customer has all their downloads again.",
        )

    @rx.event
    async def extend_grant(self, form: dict[str, Any]):
        grant_id = ids.parse_id(str(form.get("grant_id") or ""))
        # Any count an INTEGER holds goes on: extend_grant says which ones it takes.
        days = ids.parse_whole(str(form.get("days") or "").strip(), ids.MAX_INT)
        if grant_id is None or days is None:
            self.error = "Extend by a whole number of days."
            return
        await self._act(
            WRITE,
            lambda s, user, ip: when(
                backoffice.extend_grant(
                    session=s, grant_id=grant_id, days=days, actor=user, ip=ip
                ).expires_at
            ),
            "Download now available until {result}.",
        )


def _facts() -> rx.Component:
    o = AdminOrderState.order

    def fact(label: Any, value: Any) -> list[rx.Component]:
        return [rx.el.dt(label), rx.el.dd(value)]

    return rx.el.dl(
        *fact("Status", status_badge(o["status"])),
        *fact(
            "Customer",
            rx.cond(o["customer_href"] != "", link(o["email"], to=o["customer_href"]), o["email"]),
        ),
        *fact("Placed", o["created"]),
        *fact("Paid", o["paid"]),
        *fact("Stripe PaymentIntent", rx.el.code(o["payment_intent"])),
        *fact("Subtotal", o["subtotal"]),
        rx.cond(o["discount"] != "", rx.fragment(*fact(o["discount_label"], o["discount"]))),
        # Each tax on its own line, as on the receipt; an order taxed nothing still says so.
        rx.cond(
            AdminOrderState.taxes.length() > 0,  # type: ignore[attr-defined]
            rx.foreach(
                AdminOrderState.taxes,
                lambda tax: rx.fragment(*fact(tax["label"], tax["amount"])),
            ),
            rx.fragment(*fact("Tax", o["tax"])),
        ),
        *fact("Total", o["total"]),
        *fact("Refunded", o["refunded"]),
        class_name="admin-facts",
    )


def _refund_form() -> rx.Component:
    s = AdminOrderState
    return rx.cond(
        s.can_refund & (s.refundable > 0),
        rx.el.form(
            rx.el.h2("Refund", class_name="admin-section-title"),
            rx.el.p("Up to ", s.order["refundable"], " can be refunded.", class_name="muted"),
            field(
                "Amount",
                rx.el.input(
                    id="refund-amount",
                    name="amount",
                    inputmode="decimal",
                    placeholder="all that is left",
                    class_name="input",
                    max_length=12,
                    aria_describedby="refund-amount-hint",
                ),
                control_id="refund-amount",
                hint="In dollars, e.g. 12.50; leave empty to refund everything left.",
            ),
            field(
                "Reason",
                rx.el.input(id="refund-reason", name="reason", class_name="input", max_length=500),
                control_id="refund-reason",
            ),
            rx.cond(
                s.refund_error != "",
                rx.el.p(s.refund_error, class_name="field-error", role="alert"),
            ),
            rx.el.button("Refund", type="submit", class_name="button button-primary"),
            on_submit=AdminOrderState.refund,
            reset_on_submit=True,
            class_name="admin-fieldset",
            aria_label="Refund this order",
        ),
    )


def _actions() -> rx.Component:
    s = AdminOrderState
    return rx.cond(
        s.can_write & s.paid,
        rx.el.div(
            rx.el.button(
                "Resend receipt",
                on_click=AdminOrderState.resend_receipt,
                class_name="button button-ghost",
            ),
            rx.el.button(
                "Resend download links",
                on_click=AdminOrderState.resend_downloads,
                class_name="button button-ghost",
            ),
            class_name="admin-actions",
        ),
    )


def _grant_cells(row: Any) -> list[rx.Component]:
    s = AdminOrderState
    return [
        rx.el.td(row["name"]),
        rx.el.td(row["left"]),
        rx.el.td(row["expires"], class_name="nowrap"),
        rx.el.td(row["state"], class_name="nowrap"),
        rx.el.td(
            rx.cond(
                s.can_write & (row["state"] != "revoked"),
                rx.el.div(
                    rx.el.button(
                        "Reset count",
                        on_click=AdminOrderState.reset_grant(row["id"]),  # type: ignore[operator]
                        class_name="button button-ghost button-small",
                        aria_label="Reset download count of " + row["name"],
                    ),
                    rx.el.form(
                        rx.el.input(type="hidden", name="grant_id", value=row["id"]),
                        # Each row's box and button named with its file: an order of several
                        # files has one "Days" box and one "Extend" button per file.
                        rx.el.label(
                            "Days",
                            rx.el.input(
                                name="days",
                                type="number",
                                min="1",
                                max="365",
                                default_value="7",
                                class_name="input input-small",
                                aria_label="Days to extend " + row["name"],
                            ),
                        ),
                        rx.el.button(
                            "Extend",
                            type="submit",
                            class_name="button button-ghost button-small",
                            aria_label="Extend " + row["name"],
                        ),
                        on_submit=AdminOrderState.extend_grant,
                        class_name="inline-form",
                        aria_label="Extend " + row["name"],
                    ),
                    class_name="admin-actions",
                ),
            )
        ),
    ]


def _order_view() -> rx.Component:
    s = AdminOrderState
    return rx.fragment(
        back_link("Back to the order list", to="/admin/orders"),
        rx.cond(
            s.message != "", rx.el.p(s.message, class_name="notice notice-success", role="status")
        ),
        rx.cond(s.error != "", rx.el.p(s.error, class_name="notice notice-error", role="alert")),
        _facts(),
        rx.cond(
            s.order["payment_error"] != "",
            rx.el.p("Last payment error: ", s.order["payment_error"], class_name="notice"),
        ),
        _actions(),
        rx.el.h2("Items", class_name="admin-section-title"),
        data_table(
            ["Product", "Quantity", "Amount"],
            s.items,
            lambda r: [
                rx.el.td(r["name"]),
                rx.el.td(r["quantity"]),
                rx.el.td(r["amount"], class_name="nowrap"),
            ],
            "Items",
        ),
        _refund_form(),
        rx.cond(
            s.refund_rows.length() > 0,  # type: ignore[attr-defined]
            rx.fragment(
                rx.el.h2("Refunds", class_name="admin-section-title"),
                data_table(
                    ["When", "Amount", "Status", "By", "Reason", "Stripe id"],
                    s.refund_rows,
                    lambda r: [
                        rx.el.td(r["at"], class_name="nowrap"),
                        rx.el.td(r["amount"], class_name="nowrap"),
                        rx.el.td(r["status"], class_name="nowrap"),
                        rx.el.td(r["source"]),
                        rx.el.td(r["reason"]),
                        rx.el.td(rx.el.code(r["id"])),
                    ],
                    "Refunds",
                ),
            ),
        ),
        rx.el.h2("Downloads", class_name="admin-section-title"),
        rx.cond(
            s.grants.length() > 0,  # type: ignore[attr-defined]
            data_table(
                ["File", "Downloads left", "Expires", "State", ""],
                s.grants,
                _grant_cells,
                "Downloads",
            ),
            rx.el.p("No downloads for this order.", class_name="muted"),
        ),
        rx.el.h2("Payment timeline", class_name="admin-section-title"),
        rx.cond(
            s.timeline.length() > 0,  # type: ignore[attr-defined]
            data_table(
                ["Received", "Stripe event", "Processing", "Event id"],
                s.timeline,
                lambda r: [
                    rx.el.td(r["at"], class_name="nowrap"),
                    rx.el.td(r["type"]),
                    rx.el.td(r["state"]),
                    rx.el.td(rx.el.code(r["id"])),
                ],
                "Payment timeline",
            ),
            rx.el.p("No webhook events received for this order yet.", class_name="muted"),
        ),
    )


def admin_order_page() -> rx.Component:
    # The page's one heading names the order, as the customer's order page does.
    return admin_page(
        AdminOrderState.heading,
        one_record(
            AdminOrderState,
            _order_view(),
            missing="There is no such order.",
            back_to="/admin/orders",
            back_label="Back to the order list",
        ),
        state=AdminOrderState,
    )
