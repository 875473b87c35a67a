"""/admin/customers and /admin/customers/[id]: staff look customers up and see their orders,
downloads and signed-in sessions; an admin (`customers:write`) can end those sessions.

Every load and action checks its permission on the server first (`customers:read` to see).
"""

from __future__ import annotations

from datetime import UTC, datetime
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
from shop.pages.admin_orders import order_row, status_badge, when
from shop.services import backoffice, clock, ids
from shop.services.errors import ShopError
from shop.services.money import format_money
from shop.state.catalog_data import in_session
from shop.state.staff import StaffState

PER_PAGE = 50
READ = "customers:read"
WRITE = "customers:write"


def customers_href(q: str, offset: int = 0) -> str:
    params = {"q": q} if q else {}
    if offset:
        params["offset"] = str(offset)
    return "/admin/customers" + (f"?{urlencode(params)}" if params else "")


def spent_text(row: backoffice.CustomerRow) -> str:
    """Net of refunds, each currency with its code ("$0.00 CAD, $10.00 USD")."""
    amounts = row.spent_by_currency or [
        backoffice.CurrencyAmount(currency=row.spent_currency, amount=0)
    ]
    return ", ".join(format_money(spent.amount, spent.currency) for spent in amounts)


class AdminCustomersState(StaffState):
    rows: list[dict[str, str]] = []
    q: str = ""
    total: int = 0
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
        offset = ids.parse_offset(params.get("offset"))
        q = self.q or None

        def read(session: Any) -> tuple[list[backoffice.CustomerRow], int]:
            return backoffice.search_customers(session=session, q=q, offset=offset, limit=PER_PAGE)

        found, self.total = await in_session(read)
        self.rows = [
            {
                "id": str(row.id),
                "href": f"/admin/customers/{row.id}",
                "email": row.email,
                "name": row.name or "",
                "orders": str(row.orders),
                "spent": spent_text(row),
                "since": clock.format_day(row.created_at),
                "state": "active" if row.is_active else "disabled",
            }
            for row in found
        ]
        self.prev_href = customers_href(self.q, max(offset - PER_PAGE, 0)) if offset else ""
        self.next_href = (
            customers_href(self.q, offset + PER_PAGE) if offset + PER_PAGE < self.total else ""
        )
        self.loaded = True

    @rx.event
    async def apply(self, form: dict[str, Any]):
        if await self._require(READ) is None:
            return None
        return rx.redirect(customers_href(str(form.get("q") or "").strip()[:320]))


def admin_customers_page() -> rx.Component:
    s = AdminCustomersState
    return admin_page(
        "Customers",
        rx.el.form(
            field(
                "Search",
                rx.el.input(
                    id="customers-q",
                    name="q",
                    type="search",
                    placeholder="Email or name",
                    default_value=s.q,
                    key=s.q,
                    class_name="input",
                    max_length=320,
                ),
                control_id="customers-q",
            ),
            rx.el.button("Search", type="submit", class_name="button button-primary"),
            on_submit=AdminCustomersState.apply,
            role="search",
            class_name="filters admin-filters",
        ),
        rx.cond(
            s.loaded,
            rx.cond(
                s.total > 0,
                rx.fragment(
                    rx.el.p(
                        s.total, rx.cond(s.total == 1, " account", " accounts"), class_name="muted"
                    ),
                    data_table(
                        ["Email", "Name", "Paid orders", "Spent, net of refunds", "Since", "State"],
                        s.rows,
                        lambda r: [
                            rx.el.td(link(r["email"], to=r["href"])),
                            rx.el.td(r["name"]),
                            rx.el.td(r["orders"], class_name="num"),
                            rx.el.td(r["spent"], class_name="num"),
                            rx.el.td(r["since"], class_name="nowrap"),
                            rx.el.td(r["state"]),
                        ],
                        "Customers",
                        numeric=("Paid orders", "Spent, net of refunds"),
                    ),
                    page_links(
                        s.prev_href, s.next_href, prev_label="← Previous", next_label="Next →"
                    ),
                ),
                rx.el.p("No customers match.", class_name="muted"),
            ),
            loading_notice(),
        ),
        state=AdminCustomersState,
    )


# --- one customer -----------------------------------------------------------------------------


def _customer_data(view: backoffice.CustomerOverview) -> dict[str, Any]:
    user = view.user
    now = datetime.now(UTC)
    return {
        "customer": {
            "id": str(user.id),
            "email": user.email,
            "name": user.name or "—",
            "roles": ", ".join(view.roles) or "—",
            "since": when(user.created_at),
            "state": "active" if user.is_active else "disabled",
            "verified": "yes" if user.email_verified else "no",
        },
        "orders": [order_row(row) for row in view.orders],
        "grants": [
            {
                "name": f"{g.product_name} — {g.file_name}",
                "order": g.order_number or str(g.order_id),
                "href": f"/admin/orders/{quote(g.order_number or str(g.order_id))}",
                "left": f"{g.downloads_left} of {g.download_limit}",
                "expires": when(g.expires_at),
                "state": "revoked"
                if g.revoked_at
                else ("expired" if g.expires_at <= now else "active"),
            }
            for g in view.grants
        ],
        "sessions": [
            {
                "started": when(s.created_at),
                "seen": when(s.last_seen_at),
                "expires": when(s.expires_at),
                "ip": s.ip or "—",
                "agent": (s.user_agent or "—")[:80],
            }
            for s in view.sessions
        ],
    }


class AdminCustomerState(StaffState):
    customer: dict[str, str] = {}
    orders: list[dict[str, str]] = []
    grants: list[dict[str, str]] = []
    sessions: list[dict[str, str]] = []
    can_end_sessions: bool = False
    found: bool = False
    loaded: bool = False
    message: str = ""
    error: str = ""

    def _user_id(self) -> int | None:
        return ids.parse_id(self.router.url.path.rstrip("/").rsplit("/", 1)[-1])

    async def _read(self) -> None:
        user_id = self._user_id()

        def read(session: Any) -> dict[str, Any] | None:
            if user_id is None:
                return None
            try:
                return _customer_data(
                    backoffice.customer_overview(session=session, user_id=user_id)
                )
            except ShopError:
                return None

        data = await in_session(read)
        self.found = data is not None
        if data is not None:
            self.customer = data["customer"]
            self.orders = data["orders"]
            self.grants = data["grants"]
            self.sessions = data["sessions"]

    @rx.event
    async def load(self):
        self.loaded = False
        self.message = self.error = ""
        user = await self._require(READ)
        if user is None:
            return
        self.can_end_sessions = user.can(WRITE)
        await self._read()
        self.loaded = True

    @rx.event
    async def end_sessions(self):
        self.message = self.error = ""
        actor = await self._require(WRITE)
        user_id = self._user_id()
        if actor is None or user_id is None:
            self.error = "You are not allowed to do this."
            return
        ip = self.router.session.client_ip or None
        try:
            ended = await in_session(
                lambda s: backoffice.end_customer_sessions(
                    session=s, user_id=user_id, actor=actor, ip=ip
                )
            )
        except ShopError as exc:
            self.error = exc.message
            return
        self.message = f"{ended} sessions ended."
        await self._read()


def _customer_view() -> rx.Component:
    s = AdminCustomerState
    c = s.customer
    return rx.fragment(
        back_link("Back to the customer list", to="/admin/customers"),
        rx.el.h2(c["email"], class_name="admin-section-title"),
        rx.cond(
            s.message != "", rx.el.p(s.message, class_name="notice notice-success", role="status")
        ),
        rx.cond(s.error != "", rx.el.p(s.error, class_name="notice notice-error", role="alert")),
        rx.el.dl(
            rx.el.dt("Name"),
            rx.el.dd(c["name"]),
            rx.el.dt("Roles"),
            rx.el.dd(c["roles"]),
            rx.el.dt("Account"),
            rx.el.dd(c["state"], ", email verified: ", c["verified"]),
            rx.el.dt("Since"),
            rx.el.dd(c["since"]),
            class_name="admin-facts",
        ),
        rx.el.h2("Orders", class_name="admin-section-title"),
        rx.cond(
            s.orders.length() > 0,  # type: ignore[attr-defined]
            data_table(
                ["Order", "Status", "Total", "Placed"],
                s.orders,
                lambda r: [
                    rx.el.td(link(r["number"], to=r["href"])),
                    rx.el.td(status_badge(r["status"])),
                    rx.el.td(r["total"], class_name="num"),
                    rx.el.td(r["created"], class_name="nowrap"),
                ],
                "Orders",
                numeric=("Total",),
            ),
            rx.el.p("No orders yet.", class_name="muted"),
        ),
        rx.el.h2("Downloads", class_name="admin-section-title"),
        rx.cond(
            s.grants.length() > 0,  # type: ignore[attr-defined]
            data_table(
                ["File", "Order", "Downloads left", "Expires", "State"],
                s.grants,
                lambda r: [
                    rx.el.td(r["name"]),
                    # Text, not a link: the order is linked in "Orders" above, and a link per
                    # file would repeat its name once per file of the order.
                    rx.el.td(r["order"]),
                    rx.el.td(r["left"]),
                    rx.el.td(r["expires"], class_name="nowrap"),
                    rx.el.td(r["state"]),
                ],
                "Downloads",
            ),
            rx.el.p("No downloads.", class_name="muted"),
        ),
        rx.el.h2("Signed-in sessions", class_name="admin-section-title"),
        rx.cond(
            s.sessions.length() > 0,  # type: ignore[attr-defined]
            rx.fragment(
                data_table(
                    ["Started", "Last seen", "Expires", "IP", "Browser"],
                    s.sessions,
                    lambda r: [
                        rx.el.td(r["started"], class_name="nowrap"),
                        rx.el.td(r["seen"], class_name="nowrap"),
                        rx.el.td(r["expires"], class_name="nowrap"),
                        rx.el.td(r["ip"]),
                        rx.el.td(r["agent"]),
                    ],
                    "Sessions",
                ),
                rx.cond(
                    s.can_end_sessions,
                    rx.el.button(
                        "End all sessions",
                        on_click=AdminCustomerState.end_sessions,
                        class_name="button button-ghost",
                    ),
                ),
            ),
            rx.el.p("Not signed in anywhere.", class_name="muted"),
        ),
    )


def admin_customer_page() -> rx.Component:
    return admin_page(
        "Customer",
        one_record(
            AdminCustomerState,
            _customer_view(),
            missing="There is no such customer.",
            back_to="/admin/customers",
            back_label="Back to the customer list",
        ),
        state=AdminCustomerState,
    )
