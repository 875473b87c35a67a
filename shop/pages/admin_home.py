"""/admin: the staff overview. The owner (`analytics:read`) sees the last 30 days of revenue
above the section cards; everyone else with staff access sees the cards alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import reflex as rx

from shop.components.admin import ADMIN_SECTIONS, admin_page, data_table
from shop.components.layout import link
from shop.services import analytics, clock
from shop.services.money import format_money
from shop.state.catalog_data import in_session
from shop.state.session import SessionState
from shop.state.staff import StaffState

DASHBOARD_DAYS = 30
DASHBOARD_PRODUCTS = 5
# The shop's own currency when nothing has sold yet.
DEFAULT_CURRENCY = "cad"


def _orders(count: int) -> str:
    return f"{count} order" if count == 1 else f"{count} orders"


def _other_currencies(report: analytics.RevenueReport, shown: str) -> str:
    """One line naming every other currency's gross and net ("" when there is none): they are
    never added to the figures shown."""
    others = [
        f"{figures.currency.upper()} gross {format_money(figures.gross, figures.currency)}, "
        f"net {format_money(figures.net, figures.currency)}"
        for figures in report.currencies
        if figures.currency != shown
    ]
    return "Also in other currencies, not counted above: " + "; ".join(others) if others else ""


def dashboard_data(report: analytics.RevenueReport) -> dict[str, Any]:
    """What the overview shows of `report`: the currency with most revenue, as display text,
    and a line naming the other currencies. Net revenue is gross − refunds, tax included; tax
    collected is net of the refunds' tax share."""
    currency = report.main_currency or DEFAULT_CURRENCY
    figures = report.figures_for(currency)
    tallest = max((day.gross for day in figures.days), default=0)
    bars = []
    for day in figures.days:
        label = f"{day.day.isoformat()}: {format_money(day.gross, currency)}, {_orders(day.paid_orders)}"
        if day.refunds:
            label += f", {format_money(day.refunds, currency)} refunded"
        # A day with any sale stays visible next to a much bigger one.
        height = max(round(100 * day.gross / tallest), 2) if tallest and day.gross else 0
        bars.append({"label": label, "height": f"{height}%"})
    return {
        "figures": {
            "currency": currency.upper(),
            "net": format_money(figures.net, currency),
            "orders": str(figures.paid_orders),
            "average": format_money(figures.average_order, currency),
            "refunds": format_money(figures.refunds, currency),
            "tax": format_money(figures.tax_net, currency),
            "tax_detail": (
                f"{format_money(figures.tax, currency)} charged − "
                f"{format_money(figures.tax_refunded, currency)} refunded"
            ),
            "first_day": report.start.isoformat(),
            "last_day": report.end.isoformat(),
            "other_currencies": _other_currencies(report, currency),
        },
        "bars": bars,
        "top_products": [
            {
                "name": product.name,
                "units": str(product.units),
                "revenue": format_money(product.revenue, currency),
            }
            for product in figures.top_products[:DASHBOARD_PRODUCTS]
        ],
        "has_sales": figures.paid_orders > 0,
    }


class AdminHomeState(StaffState):
    show_figures: bool = False
    figures: dict[str, str] = {}
    bars: list[dict[str, str]] = []
    top_products: list[dict[str, str]] = []
    has_sales: bool = False

    @rx.event
    async def load(self):
        self.show_figures = False
        user = await self._require("catalog:read")
        if user is None or not user.can("analytics:read"):
            return
        end = clock.today()
        start = end - timedelta(days=DASHBOARD_DAYS - 1)
        report = await in_session(
            lambda session: analytics.revenue_report(session=session, start=start, end=end)
        )
        data = dashboard_data(report)
        self.figures = data["figures"]
        self.bars = data["bars"]
        self.top_products = data["top_products"]
        self.has_sales = data["has_sales"]
        self.show_figures = True


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


def _figure(label: str, key: str, *, detail: str | None = None) -> rx.Component:
    value = AdminHomeState.figures[key]
    return rx.el.div(
        rx.el.dt(label),
        rx.el.dd(
            rx.fragment(
                value,
                rx.el.span(
                    AdminHomeState.figures[detail],
                    class_name="muted",
                    style={"display": "block", "font_size": "0.8rem", "font_weight": "400"},
                ),
            )
            if detail
            else value
        ),
        class_name="revenue-figure",
    )


def _chart() -> rx.Component:
    s = AdminHomeState
    return rx.el.figure(
        rx.el.figcaption("Sales per day (", s.figures["currency"], ", tax included)"),
        rx.el.ol(
            rx.foreach(
                s.bars,
                lambda bar: rx.el.li(
                    rx.el.span(class_name="revenue-bar-fill", style={"height": bar["height"]}),
                    rx.el.span(bar["label"], class_name="visually-hidden"),
                    title=bar["label"],
                    class_name="revenue-bar",
                ),
            ),
            class_name="revenue-bars",
        ),
        rx.el.div(
            rx.el.span(s.figures["first_day"]),
            rx.el.span(s.figures["last_day"]),
            class_name="revenue-axis",
            aria_hidden="true",
        ),
        class_name="revenue-chart",
    )


def _dashboard() -> rx.Component:
    s = AdminHomeState
    return rx.el.section(
        rx.el.h2("Last 30 days", class_name="admin-section-title", id="revenue-title"),
        rx.el.dl(
            _figure("Net revenue (tax included)", "net"),
            _figure("Paid orders", "orders"),
            _figure("Average order", "average"),
            _figure("Refunds", "refunds"),
            _figure("Tax collected, net of refunds", "tax", detail="tax_detail"),
            class_name="revenue-figures",
        ),
        rx.el.p(
            "Net revenue is paid order totals minus refunds, sales tax included.",
            class_name="muted",
        ),
        rx.cond(
            s.figures["other_currencies"] != "",
            rx.el.p(s.figures["other_currencies"], class_name="muted"),
        ),
        rx.cond(
            s.has_sales,
            rx.fragment(
                _chart(),
                rx.el.h3("Top products", class_name="revenue-subtitle"),
                data_table(
                    ["Product", "Units", "Revenue"],
                    s.top_products,
                    lambda p: [
                        rx.el.td(p["name"]),
                        rx.el.td(p["units"], class_name="num"),
                        rx.el.td(p["revenue"], class_name="num"),
                    ],
                    "Top products",
                    numeric=("Units", "Revenue"),
                ),
            ),
            rx.el.p("No sales yet in the last 30 days.", class_name="muted"),
        ),
        class_name="revenue",
        aria_labelledby="revenue-title",
    )


def admin_home_page() -> rx.Component:
    return admin_page(
        "Administration",
        rx.el.p("Run the shop: catalogue, orders, customers and the books.", class_name="muted"),
        rx.cond(AdminHomeState.show_figures, _dashboard()),
        # The cards are this page's section menu: the usual one beside them would give every
        # section two links of the same name.
        rx.el.nav(
            rx.el.ul(
                *[_card(label, path, shown_to) for label, path, shown_to in ADMIN_SECTIONS[1:]],
                class_name="admin-cards",
            ),
            aria_label="Administration",
        ),
        state=AdminHomeState,
        section_nav=False,
    )
