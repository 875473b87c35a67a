"""/account/orders/[number]/receipt: the printable receipt of a paid order, and its PDF.

Only the order's owner sees it, holding orders:read_own (staff with orders:read_all too); anyone
else gets "not found", like a missing order, and an account with neither permission "not allowed". The figures are the stored order's (`receipts.receipt_figures`), the
same the email and the PDF print.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from shop.components.layout import link, not_allowed_notice, page
from shop.db import session_scope
from shop.services import orders, receipts
from shop.services.errors import ShopError
from shop.state.buyer import READ_ALL_ORDERS, READ_OWN_ORDERS, BuyerState


class ReceiptState(BuyerState):
    receipt_status: str = ""  # "", "ok", "unpaid", "missing", "forbidden"
    shop_name: str = ""
    number: str = ""
    paid_on: str = ""
    customer: str = ""
    billing: str = ""
    rows: list[dict[str, str]] = []
    totals: list[dict[str, str]] = []
    refunds: list[dict[str, str]] = []
    closing: str = ""  # where the files are, or why they are not any more
    refunded_in_full: bool = False
    downloads_url: str = ""

    @rx.var
    def pdf_url(self) -> str:
        return f"/api/orders/{self.number}/receipt.pdf"

    @rx.event
    async def load(self):
        user = await self._require(READ_OWN_ORDERS, READ_ALL_ORDERS)
        if user is None:
            self.receipt_status = "forbidden" if self.access == "forbidden" else ""
            self.shop_name = self.number = self.paid_on = self.customer = self.billing = ""
            self.rows, self.totals, self.refunds, self.downloads_url = [], [], [], ""
            self.closing, self.refunded_in_full = "", False
            return self._refusal()
        parts = self.router.url.path.rstrip("/").split("/")
        reference = parts[-2] if len(parts) >= 2 else ""

        def run() -> receipts.ReceiptFigures | None:
            with session_scope() as session:
                order = orders.find_order(
                    session=session,
                    reference=reference,
                    user_id=user.id,
                    see_all=user.can(READ_ALL_ORDERS),
                )
                if order.paid_at is None:
                    return None
                return receipts.receipt_figures(session=session, order=order)

        try:
            figures = await asyncio.to_thread(run)
        except ShopError:
            self.receipt_status = "missing"
            return None
        if figures is None:
            self.receipt_status = "unpaid"
            return None
        self.shop_name = figures.shop_name
        self.number = figures.order_number
        self.paid_on = figures.paid_on or ""
        self.customer = figures.customer_email or ""
        self.billing = figures.billing
        self.rows = [{"label": label, "amount": amount} for label, amount in figures.rows]
        self.totals = [{"label": label, "amount": amount} for label, amount in figures.totals]
        self.downloads_url = figures.downloads_url
        self.refunds = [{"label": label, "amount": amount} for label, amount in figures.refunds]
        self.refunded_in_full = figures.refunded_in_full
        self.closing = receipts.closing_line(figures)
        self.receipt_status = "ok"
        return None


def _table(rows: Any, class_name: str) -> rx.Component:
    return rx.el.table(
        rx.el.tbody(
            rx.foreach(
                rows,
                lambda r: rx.el.tr(
                    rx.el.td(r["label"]), rx.el.td(r["amount"], class_name="amount")
                ),
            )
        ),
        class_name=class_name,
    )


def receipt_view() -> rx.Component:
    s = ReceiptState
    return rx.el.article(
        rx.el.p(s.shop_name, class_name="eyebrow"),
        rx.el.h1("Receipt for order ", s.number, class_name="page-title"),
        rx.el.p("Paid ", s.paid_on),
        rx.cond(s.customer != "", rx.el.p("Customer: ", s.customer)),
        rx.cond(s.billing != "", rx.el.p("Billing: ", s.billing)),
        _table(s.rows, "receipt-items"),
        _table(s.totals, "receipt-totals"),
        rx.cond(s.refunds.length() > 0, _table(s.refunds, "receipt-refunds")),  # type: ignore[attr-defined]
        rx.cond(s.refunded_in_full, rx.el.p(s.closing, role="status")),
        rx.el.p(
            # A file from the API, not a page: the browser must ask the server.
            link(
                "Download PDF",
                to=s.pdf_url,
                reload_document=True,
                class_name="button button-primary",
            ),
            rx.cond(
                s.refunded_in_full,
                "",
                rx.fragment(" ", link("Your downloads", to="/account/downloads")),
            ),
            class_name="receipt-actions no-print",
        ),
        class_name="receipt",
    )


def receipt_page() -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                rx.match(
                    ReceiptState.receipt_status,
                    ("ok", receipt_view()),
                    (
                        "unpaid",
                        rx.el.div(
                            rx.el.h1("No receipt yet", class_name="page-title"),
                            rx.el.p("This order is not paid yet.", class_name="muted"),
                        ),
                    ),
                    (
                        "missing",
                        rx.el.div(
                            rx.el.h1("Order not found", class_name="page-title"),
                            link("Your orders", to="/account/orders"),
                        ),
                    ),
                    (
                        "forbidden",
                        rx.el.div(
                            rx.el.h1("Receipt", class_name="page-title"), not_allowed_notice()
                        ),
                    ),
                    rx.el.p("Loading…", class_name="muted", aria_busy="true"),
                ),
                class_name="container",
            ),
            class_name="section",
        )
    )
