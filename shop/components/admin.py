"""The frame of staff pages: the shop layout with a section navigation and access states."""

from __future__ import annotations

from typing import Any

import reflex as rx

from shop.components.layout import link, not_allowed_notice, page
from shop.state.session import SessionState
from shop.state.staff import StaffState

# (label, path, shown to) — support sees what its permissions allow; the server still checks.
# Each label is a name no other link on a staff page has or contains: "Product catalogue", not
# "Products", which is the storefront header's link (to /products) on the same page.
ADMIN_SECTIONS: list[tuple[str, str, str]] = [
    ("Overview", "/admin", "staff"),
    ("Product catalogue", "/admin/products", "staff"),
    ("Categories", "/admin/categories", "admin"),
    ("Orders", "/admin/orders", "staff"),
    ("Customers", "/admin/customers", "staff"),
    ("Promo codes", "/admin/promo-codes", "admin"),
    ("Reconciliation", "/admin/reconciliation", "admin"),
    ("Audit log", "/admin/audit", "admin"),
]


def _nav_item(label: str, path: str, shown_to: str) -> rx.Component:
    item = rx.el.li(link(label, to=path, class_name="admin-nav-link"))
    return item if shown_to == "staff" else rx.cond(SessionState.is_admin, item)


def admin_nav() -> rx.Component:
    return rx.el.nav(
        rx.el.ul(*[_nav_item(*section) for section in ADMIN_SECTIONS], class_name="admin-nav"),
        aria_label="Administration",
    )


def back_link(label: str, to: str) -> rx.Component:
    """The way back to a staff list from one of its records, e.g. "Back to the order list":
    not "All orders", which the section link "Orders" would match as well. The arrow is
    decoration, not part of the name."""
    return rx.el.p(link(rx.el.span("← ", aria_hidden="true"), label, to=to))


def outcome_notice(message: Any, is_error: Any) -> rx.Component:
    """What a staff action did: a status line, or an alert when it was refused; nothing when
    `message` is empty."""
    return rx.cond(
        message != "",
        rx.cond(
            is_error,
            rx.el.p(message, class_name="notice notice-error", role="alert"),
            rx.el.p(message, class_name="notice", role="status"),
        ),
    )


def loading_notice() -> rx.Component:
    """What a staff page shows until its on_load has answered."""
    return rx.el.p("Loading…", class_name="muted")


def one_record(
    state: type[StaffState], view: rx.Component, *, missing: str, back_to: str, back_label: str
) -> rx.Component:
    """The body of a staff page about one record (state has `loaded` and `found`): loading,
    then its view, or a not-found notice with a way back to the list."""
    return rx.cond(
        state.loaded,  # type: ignore[attr-defined]
        rx.cond(
            state.found,  # type: ignore[attr-defined]
            view,
            rx.el.div(
                rx.el.p(missing),
                link(back_label, to=back_to, class_name="button button-ghost"),
                class_name="empty-state",
            ),
        ),
        loading_notice(),
    )


def page_links(
    prev_href: rx.Var | str, next_href: rx.Var | str, *, prev_label: str, next_label: str
) -> rx.Component:
    """Previous/next links of a paged staff list; each shown only when that page exists."""
    return rx.el.nav(
        rx.cond(
            prev_href != "",
            link(prev_label, to=prev_href, class_name="button button-ghost"),
            rx.el.span(),
        ),
        rx.cond(
            next_href != "",
            link(next_label, to=next_href, class_name="button button-ghost"),
            rx.el.span(),
        ),
        class_name="pagination",
        aria_label="Pages",
    )


def sign_in_here_href() -> rx.Var:
    """/login?next=<this page's path and query>: after signing in, staff are back on the page
    they asked for (the sign-in form keeps `next` only when it is a local path)."""
    url = rx.State.router.url
    here = url.path + rx.cond(url.query != "", "?" + url.query, "")
    return rx.Var(
        f"('/login?next=' + encodeURIComponent({here!s} || '/'))",
        _var_type=str,
        _var_data=here._get_all_var_data(),
    )


def access_notice(state: type[StaffState] = StaffState) -> rx.Component:
    return rx.match(
        state.access,
        (
            "sign_in",
            rx.el.div(
                rx.el.p("Please sign in with a staff account to see this page."),
                # Not "Sign in": the header has that link on this page too.
                link("Go to the sign-in page", to=sign_in_here_href(), class_name="button"),
                class_name="notice",
                role="alert",
            ),
        ),
        ("forbidden", not_allowed_notice()),
        rx.el.p("Loading…", class_name="muted"),
    )


def admin_page(
    title: str | rx.Var,
    *children: rx.Component,
    state: type[StaffState] = StaffState,
    section_nav: bool = True,
) -> rx.Component:
    """A staff page: its content only once the server has allowed it for this user.

    `section_nav=False` for a page whose content already links every section (the overview):
    the menu beside it would repeat each of those links under the same name."""
    return page(
        rx.el.div(
            rx.cond(state.allowed, admin_nav()) if section_nav else rx.fragment(),
            rx.el.section(
                rx.el.h1(title, class_name="page-title"),
                rx.cond(state.allowed, rx.fragment(*children), access_notice(state)),
                class_name="admin-content",
            ),
            class_name="container admin-layout" + ("" if section_nav else " admin-layout-full"),
        )
    )


def data_table(
    headers: list[str],
    rows: Any,
    cells: Any,
    label: str,
    *,
    numeric: tuple[str, ...] = (),
) -> rx.Component:
    """A staff table: `cells(row)` gives a row's cells; the `numeric` headers align right, over
    their figures."""
    return rx.el.div(
        rx.el.table(
            rx.el.caption(label, class_name="visually-hidden"),
            rx.el.thead(
                rx.el.tr(
                    *[
                        rx.el.th(h, scope="col", class_name="num" if h in numeric else "")
                        for h in headers
                    ]
                )
            ),
            rx.el.tbody(rx.foreach(rows, lambda row: rx.el.tr(*cells(row)))),
            class_name="table table-compact",
        ),
        class_name="table-wrap",
    )
