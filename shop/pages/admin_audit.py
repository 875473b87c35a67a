"""/admin/audit: the audit log for the owner, filtered by action, actor and dates, paged.

The filters live in the query string (a filtered view is a link one can share or reload);
every load checks "audit:read" on the server before reading a single row.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from shop.components.admin import admin_page, page_links
from shop.components.forms import field, text_input
from shop.components.layout import link
from shop.models import AuditLog
from shop.services import audit, clock, ids
from shop.state.catalog_data import in_session
from shop.state.staff import StaffState

PER_PAGE = 50
PERMISSION = "audit:read"
FILTERS = ("action", "actor", "since", "until")


def parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def audit_href(filters: dict[str, str], **cursor: int) -> str:
    params = {k: v for k, v in filters.items() if v}
    params.update({k: str(v) for k, v in cursor.items()})
    return "/admin/audit" + (f"?{urlencode(params)}" if params else "")


def entry_row(row: AuditLog) -> dict[str, str]:
    details = ", ".join(
        f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in sorted(row.details.items())
    )
    return {
        "id": str(row.id),
        "at": clock.format_moment(row.at, seconds=True),
        "actor": row.actor_email or "—",
        "action": row.action,
        "target": row.target or "",
        "ip": row.ip or "",
        "details": details,
    }


class AuditState(StaffState):
    entries: list[dict[str, str]] = []
    actions: list[str] = []
    action: str = ""
    actor: str = ""
    since: str = ""
    until: str = ""
    filter_error: str = ""
    older_href: str = ""
    newer_href: str = ""
    loaded: bool = False

    def _filters(self) -> dict[str, str]:
        return {
            "action": self.action,
            "actor": self.actor,
            "since": self.since,
            "until": self.until,
        }

    @rx.event
    async def load(self):
        self.loaded = False
        self.entries = []
        if await self._require(PERMISSION) is None:
            return
        params = self.router.url.query_parameters
        self.action = (params.get("action") or "")[:60]
        self.actor = (params.get("actor") or "").strip().lower()[:320]
        self.since = (params.get("since") or "")[:10]
        self.until = (params.get("until") or "")[:10]
        since_day, until_day = parse_day(self.since), parse_day(self.until)
        self.filter_error = ""
        if (self.since and since_day is None) or (self.until and until_day is None):
            self.filter_error = "Dates are written YYYY-MM-DD."
        elif since_day and until_day and until_day < since_day:
            self.filter_error = "The end date is before the start date."
        # Days are the shop's (SHOP_TIME_ZONE); "until" names a day: all of that day counts.
        try:
            since = clock.start_of_day(since_day) if since_day else None
            until = clock.start_of_day(until_day + timedelta(days=1)) if until_day else None
        except (OverflowError, ValueError):  # a day at the very ends of the calendar
            self.filter_error = "Choose dates between the years 1 and 9998."
            since = until = None

        action, actor = self.action or None, self.actor or None
        before_id, after_id = ids.parse_id(params.get("before")), ids.parse_id(params.get("after"))

        def read(session: Any) -> tuple[audit.AuditPage, list[str]]:
            found = audit.page_entries(
                session=session,
                action=action,
                actor_email=actor,
                since=since,
                until=until,
                before_id=before_id,
                after_id=after_id,
                limit=PER_PAGE,
            )
            return found, audit.list_actions(session=session)

        found, self.actions = await in_session(read)
        self.entries = [entry_row(row) for row in found.items]
        filters = self._filters()
        self.older_href = audit_href(filters, before=found.items[-1].id) if found.has_older else ""
        self.newer_href = audit_href(filters, after=found.items[0].id) if found.has_newer else ""
        self.loaded = True

    @rx.event
    async def apply(self, form: dict[str, Any]):
        if await self._require(PERMISSION) is None:
            return None
        filters = {name: str(form.get(name) or "").strip()[:320] for name in FILTERS}
        return rx.redirect(audit_href(filters))


def filters_form() -> rx.Component:
    s = AuditState
    return rx.el.form(
        field(
            "Action",
            rx.el.select(
                rx.el.option("Any action", value=""),
                rx.foreach(s.actions, lambda a: rx.el.option(a, value=a)),
                id="audit-action",
                name="action",
                default_value=s.action,
                key=s.action + "|" + s.actions.length().to_string(),  # type: ignore[attr-defined]
                class_name="input",
            ),
            control_id="audit-action",
        ),
        field(
            "Actor email",
            text_input(
                id="audit-actor",
                name="actor",
                type="email",
                default_value=s.actor,
                key=s.actor,
                max_length=320,
            ),
            control_id="audit-actor",
        ),
        # "Since"/"Until", not "From"/"To": a label finder looking for "To" matched "Actor".
        field(
            "Since",
            text_input(
                id="audit-since", name="since", type="date", default_value=s.since, key=s.since
            ),
            control_id="audit-since",
        ),
        field(
            "Until",
            text_input(
                id="audit-until", name="until", type="date", default_value=s.until, key=s.until
            ),
            control_id="audit-until",
        ),
        rx.el.div(
            rx.el.button("Filter", type="submit", class_name="button button-primary"),
            link("Clear", to="/admin/audit", class_name="button button-ghost"),
            class_name="form-actions",
        ),
        on_submit=s.apply,
        class_name="form filter-bar",
        role="search",
        aria_label="Filter the audit log",
    )


def entry(row: Any) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row["id"], class_name="num"),
        rx.el.td(row["at"], class_name="nowrap"),
        rx.el.td(row["actor"]),
        rx.el.td(rx.el.code(row["action"])),
        rx.el.td(row["target"]),
        rx.el.td(row["ip"]),
        rx.el.td(row["details"], class_name="details"),
    )


def log_table() -> rx.Component:
    s = AuditState
    return rx.cond(
        s.entries.length() > 0,  # type: ignore[attr-defined]
        rx.el.div(
            rx.el.table(
                rx.el.caption("Audit log entries, newest first", class_name="visually-hidden"),
                rx.el.thead(
                    rx.el.tr(
                        *[
                            rx.el.th(label, scope="col")
                            for label in ("#", "Time", "Actor", "Action", "Target", "IP")
                        ],
                        rx.el.th("Details", scope="col"),
                    )
                ),
                rx.el.tbody(rx.foreach(s.entries, entry)),
                class_name="table table-compact",
            ),
            class_name="table-wrap",
        ),
        rx.el.p(
            rx.cond(s.loaded, "No entries match these filters.", "Loading the log…"),
            class_name="muted empty-state",
        ),
    )


def pager() -> rx.Component:
    return page_links(
        AuditState.newer_href, AuditState.older_href, prev_label="← Newer", next_label="Older →"
    )


def admin_audit_page() -> rx.Component:
    return admin_page(
        "Audit log",
        rx.el.p(
            "Who did what, when and from where. Each entry is chained to the one before it; run ",
            rx.el.code("python -m shop audit verify"),
            " to check that none was changed.",
            class_name="muted",
        ),
        filters_form(),
        rx.cond(
            AuditState.filter_error != "",
            rx.el.div(AuditState.filter_error, class_name="notice notice-error", role="alert"),
        ),
        log_table(),
        pager(),
        state=AuditState,
    )
