"""/account/downloads: every file the customer bought, with a "Download" button each.

The page holds no links: "Download" asks the server, which resolves the signed-in user from the
websocket handshake's cookie, checks `downloads:read_own` and that the grant is theirs and still usable, and only then
answers with a fresh signed link (valid DOWNLOAD_LINK_MINUTES) that the browser downloads. So a
page left open for hours still works, and a grant revoked meanwhile is refused with its reason.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import reflex as rx

from shop.components.layout import link
from shop.pages.account_orders import account_frame, day, loading, status_badge
from shop.services import clock, downloads, ids
from shop.services.auth import CurrentUser
from shop.services.errors import ShopError
from shop.state.buyer import READ_OWN_DOWNLOADS, BuyerState
from shop.state.catalog_data import in_session

STATUS_LABELS = {
    downloads.AVAILABLE: "Ready",
    downloads.EXPIRED: "Expired",
    downloads.REVOKED: "Refunded",
    downloads.USED_UP: "All downloads used",
}


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"


def until(moment: datetime) -> str:
    return f"{day(moment)}, {clock.local(moment):%H:%M %Z}"


def download_rows(session: Any, user_id: int) -> list[dict[str, str]]:
    rows = []
    for entry in downloads.list_downloads(session=session, user_id=user_id, with_links=False):
        left = entry.downloads_left
        rows.append(
            {
                "grant_id": str(entry.grant_id),
                "name": entry.name,
                "file_name": entry.file_name,
                "size": human_size(entry.size_bytes),
                "order_number": entry.order_number,
                "order_href": f"/account/orders/{entry.order_number}",
                "expires": until(entry.expires_at),
                "left": f"{left} of {entry.download_limit}",
                "left_text": f"{left} download{'s' if left != 1 else ''} left",
                "status": entry.status,
                "status_label": STATUS_LABELS.get(entry.status, entry.status),
                "usable": "yes" if entry.status == downloads.AVAILABLE else "",
            }
        )
    return rows


# Seconds between re-reads of the cards after a download starts (about two minutes in all).
FOLLOW_DOWNLOAD_WAITS = (1, 1, 2, 2, 4, 4, 8, 8, 15, 15, 30, 30)


class AccountDownloadsState(BuyerState):
    downloads_loaded: bool = False
    rows: list[dict[str, str]] = []
    download_error: str = ""

    async def _refresh(self, user_id: int) -> None:
        self.rows = await in_session(lambda s: download_rows(s, user_id))
        self.downloads_loaded = True

    async def _require_reader(self) -> CurrentUser | None:
        user = await self._require(READ_OWN_DOWNLOADS)
        if user is None:
            self.rows = []
        return user

    @rx.event
    async def load(self):
        self.downloads_loaded = False
        self.download_error = ""
        user = await self._require_reader()
        if user is None:
            return self._refusal()
        await self._refresh(user.id)
        return None

    @rx.event
    async def download(self, grant_id: str):
        """A fresh signed link for one of this user's grants, handed to the browser."""
        user = await self._require_reader()
        if user is None:
            return self._refusal()
        self.download_error = ""
        target = ids.parse_id(grant_id)
        if target is None:
            return None
        try:
            made = await in_session(
                lambda s: downloads.issue_link(session=s, user_id=user.id, grant_id=target)
            )
        except ShopError as exc:
            self.download_error = exc.message
            await self._refresh(user.id)
            return None
        return [
            rx.download(url=made.path, filename=made.file_name),
            AccountDownloadsState.follow_download,
        ]

    @rx.event(background=True)
    async def follow_download(self):
        """A download counts once the browser has all of it: re-read the cards for a while
        (until one changes), so "Downloads left" follows without a reload."""
        for wait in FOLLOW_DOWNLOAD_WAITS:
            await asyncio.sleep(wait)
            async with self:
                user = await self._require_reader()
                if user is None:
                    return
                before = self.rows
                await self._refresh(user.id)
                if self.rows != before:
                    return

    @rx.event
    async def refresh(self):
        user = await self._require_reader()
        if user is None:
            return self._refusal()
        await self._refresh(user.id)
        return None


def _download_card(row: Any) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            rx.el.h2(row["name"], class_name="acct-dl-name"),
            rx.el.p(
                row["file_name"],
                " · ",
                row["size"],
                " · ",
                # Named with the file: two files of one order are two links to the order.
                link(
                    "order ",
                    row["order_number"],
                    to=row["order_href"],
                    aria_label="Order " + row["order_number"] + " (" + row["file_name"] + ")",
                ),
                class_name="muted acct-dl-meta",
            ),
            rx.el.dl(
                rx.el.div(
                    rx.el.dt("Available until"), rx.el.dd(row["expires"]), class_name="acct-dl-fact"
                ),
                rx.el.div(
                    rx.el.dt("Downloads left"),
                    rx.el.dd(row["left"], aria_label=row["left_text"]),
                    class_name="acct-dl-fact",
                ),
                rx.el.div(
                    rx.el.dt("Status"),
                    rx.el.dd(status_badge(row["status"], row["status_label"])),
                    class_name="acct-dl-fact",
                ),
                class_name="acct-dl-facts",
            ),
            class_name="acct-dl-body",
        ),
        rx.el.div(
            rx.cond(
                row["usable"] != "",
                # Named with the product and the file: one purchase may bring several files.
                rx.el.button(
                    "Download",
                    rx.el.span(
                        " ", row["name"], " (", row["file_name"], ")", class_name="visually-hidden"
                    ),
                    type="button",
                    on_click=AccountDownloadsState.download(row["grant_id"]),  # type: ignore[operator]
                    class_name="button button-primary acct-dl-button",
                ),
                rx.el.span(row["status_label"], class_name="muted"),
            ),
            class_name="acct-dl-action",
        ),
        class_name="acct-dl",
    )


def downloads_list() -> rx.Component:
    return rx.el.div(
        rx.cond(
            AccountDownloadsState.download_error != "",
            rx.el.div(
                rx.el.p(AccountDownloadsState.download_error),
                class_name="notice notice-error",
                role="alert",
            ),
        ),
        rx.el.p(
            "Each button gives you a private link that works for a few minutes; a download counts "
            "once it has finished, and resuming an interrupted one does not count again.",
            class_name="muted",
        ),
        rx.el.ul(rx.foreach(AccountDownloadsState.rows, _download_card), class_name="acct-dl-list"),
    )


def no_downloads() -> rx.Component:
    return rx.el.div(
        rx.el.p("Nothing to download yet.", class_name="acct-empty-title"),
        rx.el.p("Files you buy appear here right after payment.", class_name="muted"),
        link("Browse the catalogue", to="/products", class_name="button button-primary"),
        class_name="empty-state",
    )


def account_downloads_page() -> rx.Component:
    return account_frame(
        "/account/downloads",
        "Your downloads",
        rx.cond(
            AccountDownloadsState.downloads_loaded,
            rx.cond(AccountDownloadsState.rows.length() > 0, downloads_list(), no_downloads()),  # type: ignore[attr-defined]
            loading("Loading your downloads…"),
        ),
    )
