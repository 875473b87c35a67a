"""/admin/products: the product list, and the create and edit forms (/new, /[product_id]).

Every handler checks the permission on the server first ("catalog:read" to look,
"catalog:write" to change). Saving commits through `products_admin`, then pushes the product
to Stripe (an outage leaves it saved and "Not synced"; the catalog-sync job and the "Retry
sync" button try again).

Uploads do not pass through the event websocket: /admin-uploads.js streams the chosen file
with fetch() to POST /api/products/{id}/image or /files (the REST endpoints that enforce the
size limits while reading; the HttpOnly session cookie authenticates), then clicks the hidden
"Refresh uploads" button so this state reads the new image and file list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import reflex as rx

from shop.components.admin import admin_page, back_link, loading_notice
from shop.components.layout import link
from shop.db import session_scope
from shop.services import catalog, catalog_sync, ids, products_admin, stripe_api
from shop.services.auth import CurrentUser
from shop.services.errors import NotFound, Problem, ShopError
from shop.services.markdown import render_description_html
from shop.services.money import format_money
from shop.services.product_form import (
    LABELS,
    form_field,
    form_values,
    humanize,
    parse_form,
    parse_price,
)
from shop.settings import get_settings
from shop.state.staff import StaffState

PAGE_SIZE = 20
# The form's labels, but the SEO description's is not "SEO description": finding the
# "Description" box by its label (a substring match by default) found both boxes.
FIELD_LABELS = {**LABELS, "seo_description": "Search engine summary"}
# The currencies the form offers (any other a product has is offered too: `other_currency`).
FORM_CURRENCIES = [("cad", "CAD"), ("usd", "USD"), ("eur", "EUR"), ("gbp", "GBP")]
SYNC_LABELS = {"synced": "Synced", "not_synced": "Not synced", "pending": "Pending"}
KIND_LABELS = {"one_time": "One-time", "subscription": "Subscription"}


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def _push_to_stripe(product_id: int) -> catalog_sync.SyncOutcome:
    """After commit: bring Stripe up to date (never raises for Stripe trouble; the admin
    waits for the page, so a hanging Stripe is given seconds, not minutes)."""
    with stripe_api.someone_waits(), session_scope() as session:
        return catalog_sync.sync_product(session=session, product_id=product_id)


def _sync_note(outcome: catalog_sync.SyncOutcome) -> str:
    if outcome.status == "synced":
        return "Stripe is up to date."
    return f"Not synced to Stripe yet ({outcome.error}); it will be retried."


# --- the list ------------------------------------------------------------------------------


def _list_rows(
    *, q: str, category: str, status: str, kind: str, cursor: str | None
) -> tuple[list[dict[str, str]], int, str | None, list[dict[str, str]]]:
    with session_scope() as session:
        page = products_admin.list_products(
            session=session,
            q=q or None,
            category=category or None,
            is_active={"active": True, "archived": False}.get(status),
            kind=kind or None,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
        rows = [
            {
                "id": str(product.id),
                "name": product.name,
                "slug": product.slug,
                "href": f"/admin/products/{product.id}",
                "price": format_money(product.price_amount, product.currency),
                "kind": KIND_LABELS.get(product.kind, product.kind)
                + (f" / {product.interval}" if product.interval else ""),
                "category": cat.name if cat else "—",
                "status": "Active" if product.is_active else "Archived",
                "inventory": "Unlimited"
                if product.inventory_count is None
                else ("Sold out" if product.inventory_count == 0 else str(product.inventory_count)),
                "sync": SYNC_LABELS.get(product.sync_status, product.sync_status),
                "sync_error": product.sync_error or "",
                "can_retry": "" if product.sync_status == "synced" else "yes",
            }
            for product, cat in page.items
        ]
        categories = [
            {"slug": c.slug, "name": c.name} for c in catalog.list_categories(session=session)
        ]
        return rows, page.total, page.next_cursor, categories


def _product_name(product_id: int) -> str:
    with session_scope() as session:
        return products_admin.get_product(session=session, product_id=product_id).name


class AdminProductsState(StaffState):
    rows: list[dict[str, str]] = []
    categories: list[dict[str, str]] = []
    q: str = ""
    category: str = ""
    status: str = ""  # "", "active" or "archived"
    kind: str = ""
    total: int = 0
    page_number: int = 1
    has_next: bool = False
    message: str = ""
    message_error: bool = False
    # Display only (support may look, not change): every change handler checks on the server.
    can_write: bool = False
    # The cursor that opens page 2, 3, … (server side only); a message carried over a redirect.
    _cursors: list[str] = []
    _flash: str = ""

    async def _fetch(self) -> None:
        cursor = self._cursors[self.page_number - 2] if self.page_number > 1 else None
        rows, total, next_cursor, categories = await asyncio.to_thread(
            _list_rows,
            q=self.q,
            category=self.category,
            status=self.status,
            kind=self.kind,
            cursor=cursor,
        )
        self.rows, self.total, self.categories = rows, total, categories
        self.has_next = next_cursor is not None
        if next_cursor is not None:
            del self._cursors[self.page_number - 1 :]
            self._cursors.append(next_cursor)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message, self.message_error = text, error

    @rx.event
    async def load(self):
        self.rows = []
        # The edit form must not show the last product's values while the next one loads.
        editor = await self.get_state(AdminProductEditState)
        editor.loaded = False
        user = await self._require("catalog:read")
        if user is None:
            return
        self.can_write = "catalog:write" in user.permissions
        self._say(self._flash)
        self._flash = ""
        self._cursors, self.page_number = [], 1
        await self._fetch()

    @rx.event
    async def apply_filters(self, form_data: dict[str, Any]):
        if await self._require("catalog:read") is None:
            return
        self.q = str(form_data.get("q") or "")[:200]
        self.category = str(form_data.get("category") or "")[:120]
        self.status = str(form_data.get("status") or "")
        self.kind = str(form_data.get("kind") or "")
        self._cursors, self.page_number = [], 1
        self._say("")
        await self._fetch()

    @rx.event
    async def next_page(self):
        if await self._require("catalog:read") is None or not self.has_next:
            return
        self.page_number += 1
        await self._fetch()

    @rx.event
    async def previous_page(self):
        if await self._require("catalog:read") is None or self.page_number <= 1:
            return
        self.page_number -= 1
        await self._fetch()

    @rx.event
    async def retry_sync(self, product_id: str):
        if await self._require("catalog:write") is None:
            return
        target = ids.parse_id(product_id)
        if target is None:
            return
        try:
            name = await asyncio.to_thread(_product_name, target)
        except NotFound as exc:
            self._say(exc.message, error=True)
            return
        outcome = await asyncio.to_thread(_push_to_stripe, target)
        if outcome.status == "synced":
            self._say(f"{name}: synced to Stripe.")
        else:
            self._say(f"{name}: still not synced ({outcome.error}).", error=True)
        await self._fetch()


def message_box(text: Any, error: Any) -> rx.Component:
    return rx.cond(
        text != "",
        rx.cond(
            error,
            rx.el.p(text, class_name="notice notice-error", role="alert"),
            rx.el.p(text, class_name="notice", role="status"),
        ),
    )


def _select(
    name: str, label: str, options: list[tuple[str, str]], state_value: Any, extra: Any = None
) -> rx.Component:
    return rx.el.div(
        rx.el.label(label, class_name="field-label", html_for=f"filter-{name}"),
        rx.el.select(
            *[rx.el.option(text, value=value) for value, text in options],
            extra if extra is not None else rx.fragment(),
            id=f"filter-{name}",
            class_name="input",
            name=name,
            default_value=state_value,
        ),
        class_name="field",
    )


def _filters() -> rx.Component:
    s = AdminProductsState
    return rx.el.form(
        rx.el.div(
            rx.el.label("Search", class_name="field-label", html_for="filter-q"),
            rx.el.input(
                id="filter-q",
                class_name="input",
                name="q",
                type="search",
                default_value=s.q,
                placeholder="Name or slug",
            ),
            class_name="field",
        ),
        _select(
            "category",
            "Category",
            [("", "All categories")],
            s.category,
            rx.foreach(s.categories, lambda c: rx.el.option(c["name"], value=c["slug"])),
        ),
        _select(
            "status",
            "Status",
            [("", "Active and archived"), ("active", "Active"), ("archived", "Archived")],
            s.status,
        ),
        _select(
            "kind",
            "Kind",
            [("", "Any kind"), ("one_time", "One-time"), ("subscription", "Subscription")],
            s.kind,
        ),
        rx.el.button("Apply filters", type="submit", class_name="button"),
        on_submit=s.apply_filters,
        class_name="form filter-bar",
        role="search",
        aria_label="Filter products",
    )


def _row(row: Any) -> rx.Component:
    return rx.el.tr(
        rx.el.td(link(row["name"], to=row["href"]), rx.el.br(), rx.el.small(row["slug"])),
        rx.el.td(row["price"]),
        rx.el.td(row["kind"]),
        rx.el.td(row["category"]),
        rx.el.td(row["status"]),
        rx.el.td(row["inventory"]),
        rx.el.td(
            rx.el.span(row["sync"], class_name="sync-" + row["sync"].lower().replace(" ", "-")),
            rx.cond(row["sync_error"] != "", rx.el.p(row["sync_error"], class_name="muted")),
        ),
        rx.el.td(
            rx.cond(
                AdminProductsState.can_write & (row["can_retry"] != ""),
                rx.el.button(
                    "Retry sync",
                    type="button",
                    class_name="button button-ghost",
                    aria_label="Retry sync of " + row["name"],
                    on_click=AdminProductsState.retry_sync(row["id"]),  # type: ignore[operator]
                ),
            )
        ),
    )


def admin_products_page() -> rx.Component:
    s = AdminProductsState
    return admin_page(
        "Products",
        rx.cond(
            s.can_write,
            rx.el.p(
                link("New product", to="/admin/products/new", class_name="button button-primary"),
                class_name="form-actions",
            ),
        ),
        message_box(s.message, s.message_error),
        _filters(),
        rx.el.p(
            s.total,
            rx.cond(s.total == 1, " product", " products"),
            class_name="muted",
            # Announced when a filter changes it, without being a second "status" beside the
            # page's notices.
            aria_live="polite",
        ),
        # Scrolls inside its own box on a phone, as the orders list does.
        rx.el.div(
            rx.el.table(
                rx.el.thead(
                    rx.el.tr(
                        *[
                            rx.el.th(h, scope="col")
                            for h in (
                                "Name",
                                "Price",
                                "Kind",
                                "Category",
                                "Status",
                                "Inventory",
                                "Stripe",
                                "Actions",
                            )
                        ]
                    )
                ),
                rx.el.tbody(rx.foreach(s.rows, _row)),
                class_name="table",
                aria_label="Products",
            ),
            class_name="table-wrap",
        ),
        rx.el.nav(
            rx.el.button(
                "Previous page",
                type="button",
                class_name="button",
                disabled=s.page_number <= 1,
                on_click=s.previous_page,
            ),
            rx.el.span("Page ", s.page_number.to_string()),  # type: ignore[attr-defined]
            rx.el.button(
                "Next page",
                type="button",
                class_name="button",
                disabled=~s.has_next,
                on_click=s.next_page,
            ),
            class_name="pagination",
            aria_label="Pages",
        ),
        state=s,
    )


# --- create and edit -----------------------------------------------------------------------


INTERVAL_LABELS = {"month": "Monthly", "year": "Yearly"}


def product_facts(values: dict[str, str], categories: list[dict[str, str]]) -> list[dict[str, str]]:
    """What staff who may not edit see of a product: each form box as label and text (no box
    that looks editable), in the form's order, empty ones said in words."""
    if not values:
        return []
    settings = get_settings()
    currency = values.get("currency") or "cad"
    try:
        price = format_money(parse_price(values.get("price", ""), currency), currency)
    except ValueError:
        price = values.get("price") or "—"
    kind = KIND_LABELS.get(values.get("kind", ""), values.get("kind", ""))
    if values.get("kind") == "subscription":
        interval = INTERVAL_LABELS.get(values.get("interval", ""), "no interval")
        kind = f"{kind}, {interval.lower()}"
    category = next(
        (c["name"] for c in categories if c["slug"] == values.get("category")), "No category"
    )
    inventory = values.get("inventory", "")
    limit, days = values.get("download_limit", ""), values.get("download_days", "")
    facts = [
        ("name", values.get("name") or "—"),
        ("slug", f"/products/{values['slug']}" if values.get("slug") else "—"),
        ("price", price),
        ("kind", kind),
        ("category", category),
        ("seo_title", values.get("seo_title") or "None (the name is used)"),
        (
            "seo_description",
            values.get("seo_description") or "None (the start of the description is used)",
        ),
        (
            "inventory",
            "Unlimited" if inventory == "" else "0 (sold out)" if inventory == "0" else inventory,
        ),
        (
            "download_limit",
            limit or f"Shop default ({settings.default_download_limit})",
        ),
        (
            "download_days",
            days or f"Shop default ({settings.default_download_days})",
        ),
    ]
    status = "On sale in the storefront" if values.get("is_active") == "true" else "Archived"
    flags = [
        (FIELD_LABELS[flag], "Yes" if values.get(flag) == "true" else "No")
        for flag in ("is_tax_exempt", "is_featured")
    ]
    return [{"label": FIELD_LABELS[name], "value": text} for name, text in facts] + [
        {"label": "Status", "value": status},
        *({"label": label, "value": text} for label, text in flags),
    ]


def _category_options() -> list[dict[str, str]]:
    with session_scope() as session:
        return [{"slug": c.slug, "name": c.name} for c in catalog.list_categories(session=session)]


def _remove_file(product_id: int, file_id: int, actor: CurrentUser, ip: str | None) -> None:
    with session_scope() as session:
        products_admin.remove_file(
            session=session, product_id=product_id, file_id=file_id, actor=actor, ip=ip
        )


def _read_product(product_id: int) -> dict[str, Any]:
    with session_scope() as session:
        product = products_admin.get_product(session=session, product_id=product_id)
        category = products_admin.product_category(session=session, product=product)
        files = products_admin.product_files(session=session, product_id=product_id)
        return {
            "values": form_values(product, category),
            "image_url": f"/media/{product.image_path}" if product.image_path else "",
            "files": [
                {
                    "id": str(f.id),
                    "name": f.original_name,
                    "size": human_size(f.size_bytes),
                    "sha256": f.sha256[:12],
                }
                for f in files
            ],
            "sync": SYNC_LABELS.get(product.sync_status, product.sync_status),
            "sync_error": product.sync_error or "",
            "is_active": product.is_active,
            "url": f"/products/{product.slug}",
        }


def _save(
    product_id: int, fields: dict[str, Any], actor: CurrentUser, ip: str | None
) -> tuple[int, bool]:
    """Create or update the product; its id, and whether Stripe needs to hear of it."""
    with session_scope() as session:
        if product_id:
            product = products_admin.update_product(
                session=session, product_id=product_id, fields=fields, actor=actor, ip=ip
            )
        else:
            product = products_admin.create_product(
                session=session, fields=fields, actor=actor, ip=ip
            )
        return product.id or 0, product.sync_status != "synced"


def _check(product_id: int, fields: dict[str, Any]) -> tuple[Problem, ...]:
    try:
        with session_scope() as session:
            return products_admin.check_product(
                session=session, product_id=product_id or None, fields=fields
            )
    except ShopError as exc:  # the product was deleted meanwhile
        return (Problem("", exc.message),)


def _form_errors(problems: Iterable[Problem]) -> dict[str, str]:
    """The service's problems next to the form boxes they belong to (the first one per box)."""
    errors: dict[str, str] = {}
    for problem in problems:
        name = form_field(problem.field)
        errors.setdefault(name, _relabel(name, humanize(problem.message, problem.field)))
    return errors


def _relabel(name: str, message: str) -> str:
    """A message opened with the service's label for the box, opened with the form's."""
    old, new = LABELS.get(name, ""), FIELD_LABELS.get(name, "")
    return new + message[len(old) :] if old and old != new and message.startswith(old) else message


def _archive(product_id: int, actor: CurrentUser, ip: str | None) -> catalog_sync.SyncOutcome:
    with session_scope() as session:
        products_admin.archive_product(session=session, product_id=product_id, actor=actor, ip=ip)
    return _push_to_stripe(product_id)


def _delete(product_id: int, actor: CurrentUser, ip: str | None) -> products_admin.DeleteOutcome:
    with session_scope() as session:
        product = products_admin.get_product(session=session, product_id=product_id)
        name, stripe_product, stripe_price = (
            product.name,
            product.stripe_product_id,
            product.stripe_price_id,
        )
        outcome = products_admin.delete_product(
            session=session, product_id=product_id, actor=actor, ip=ip
        )
    if outcome.outcome == "archived":
        _push_to_stripe(product_id)
    elif stripe_product:
        catalog_sync.archive_remote(
            product_id=product_id,
            name=name,
            stripe_product_id=stripe_product,
            stripe_price_id=stripe_price,
        )
    return outcome


class AdminProductEditState(StaffState):
    product_id: int = 0  # 0 on /admin/products/new
    loaded: bool = False
    found: bool = True
    # Display only (support may look, not change): every change handler checks on the server.
    can_write: bool = False
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    preview_html: str = ""
    message: str = ""
    message_error: bool = False
    # Changing it re-mounts the form, so its boxes show freshly loaded values.
    form_key: int = 0
    categories: list[dict[str, str]] = []
    image_url: str = ""
    files: list[dict[str, str]] = []
    sync: str = ""
    sync_error: str = ""
    is_active: bool = True
    storefront_url: str = ""
    _flash: str = ""

    @rx.var
    def editing(self) -> bool:
        return self.product_id > 0

    @rx.var
    def other_currency(self) -> str:
        """The product's currency when the form does not list it, else ""."""
        code = (self.values.get("currency") or "cad").lower()
        return "" if code in dict(FORM_CURRENCIES) else code

    @rx.var
    def facts(self) -> list[dict[str, str]]:
        return product_facts(self.values, self.categories) if not self.can_write else []

    @rx.var
    def upload_image_url(self) -> str:
        return f"/api/products/{self.product_id}/image"

    @rx.var
    def upload_file_url(self) -> str:
        return f"/api/products/{self.product_id}/files"

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message, self.message_error = text, error

    def _ip(self) -> str | None:
        return self.router.session.client_ip or None

    async def _reload(self) -> None:
        try:
            data = await asyncio.to_thread(_read_product, self.product_id)
        except NotFound:
            self.found = False
            return
        self.found = True
        self.values = data["values"]
        self.image_url = data["image_url"]
        self.files = data["files"]
        self.sync, self.sync_error = data["sync"], data["sync_error"]
        self.is_active = data["is_active"]
        self.storefront_url = data["url"]
        self.preview_html = render_description_html(self.values.get("description", ""))

    @rx.event
    async def load(self):
        self.values, self.files, self.image_url, self.errors = {}, [], "", {}
        self.loaded = False
        yield  # hide the previous product's form at once
        last = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        user = await self._require("catalog:write" if last == "new" else "catalog:read")
        if user is None:
            return
        self.can_write = "catalog:write" in user.permissions
        self._say(self._flash)
        self._flash = ""
        self.product_id = ids.parse_id(last) or 0
        self.categories = await asyncio.to_thread(_category_options)
        if last != "new" and not self.product_id:
            self.found = False
        elif self.product_id:
            await self._reload()
        else:
            self.found = True
            self.values = form_values(None)
            self.preview_html = ""
            self.sync = self.sync_error = self.storefront_url = ""
        self.form_key += 1
        self.loaded = True

    @rx.event
    async def preview(self, text: str):
        if await self._require("catalog:read") is None:
            return
        self.preview_html = render_description_html(str(text)[: products_admin.DESCRIPTION_MAX])

    @rx.event
    async def save(self, form_data: dict[str, Any]):
        user = await self._require("catalog:write")
        if user is None:
            return
        parsed = parse_form(form_data)
        self.preview_html = render_description_html(
            str(parsed.fields.get("description", ""))[: products_admin.DESCRIPTION_MAX]
        )
        if parsed.errors:
            # The product rules' problems too, so every box at fault is marked in one go.
            problems = await asyncio.to_thread(_check, self.product_id, parsed.fields)
            self.errors = {**_form_errors(problems), **parsed.errors}
            self._say("Please correct the marked fields.", error=True)
            return
        self.errors = {}
        self._say("Saving…")
        yield
        creating = not self.product_id
        try:
            saved_id, needs_sync = await asyncio.to_thread(
                _save, self.product_id, parsed.fields, user, self._ip()
            )
        except ShopError as exc:
            self.errors = _form_errors(exc.problems or (Problem(exc.field or "", exc.message),))
            marked = [name for name in self.errors if name != "form"]
            self._say(
                f"Not saved: {exc.message}"
                if not marked
                else "Not saved: please correct the marked field."
                if len(marked) == 1
                else "Not saved: please correct the marked fields.",
                error=True,
            )
            return
        if creating:
            # The address names the product as soon as it exists, not after Stripe answers
            # (that can take a while), and replaces /new in the history so Back cannot offer
            # the empty form again; a second "Create product" queued behind this one edits
            # this product instead of making another.
            self.product_id = saved_id
            yield rx.redirect(f"/admin/products/{saved_id}", replace=True)
        outcome = await asyncio.to_thread(_push_to_stripe, saved_id) if needs_sync else None
        note = f" {_sync_note(outcome)}" if outcome else ""
        if creating:
            self._flash = f"Product created.{note}"
            return
        await self._reload()
        self.form_key += 1
        self._say(f"Saved.{note}", error=bool(outcome and outcome.status != "synced"))

    @rx.event
    async def archive(self):
        user = await self._require("catalog:write")
        if user is None or not self.product_id:
            return
        try:
            outcome = await asyncio.to_thread(_archive, self.product_id, user, self._ip())
        except ShopError as exc:
            self._say(exc.message, error=True)
            return
        await self._reload()
        self.form_key += 1
        self._say(f"Archived: the product left the storefront. {_sync_note(outcome)}")

    @rx.event
    async def delete(self):
        user = await self._require("catalog:write")
        if user is None or not self.product_id:
            return
        try:
            outcome = await asyncio.to_thread(_delete, self.product_id, user, self._ip())
        except ShopError as exc:
            self._say(exc.message, error=True)
            return
        if outcome.outcome == "deleted":
            listing = await self.get_state(AdminProductsState)
            listing._flash = f"{self.values.get('name') or 'The product'} was deleted."
            yield rx.redirect("/admin/products")
            return
        await self._reload()
        self.form_key += 1
        self._say(outcome.message)

    @rx.event
    async def remove_file(self, file_id: str):
        """A downloadable file uploaded by mistake goes (not once customers have bought it)."""
        user = await self._require("catalog:write")
        file = ids.parse_id(file_id)
        if user is None or not self.product_id or file is None:
            return
        name = next((f["name"] for f in self.files if f["id"] == str(file)), "The file")
        try:
            await asyncio.to_thread(_remove_file, self.product_id, file, user, self._ip())
        except ShopError as exc:
            self._say(exc.message, error=True)
            return
        await self._reload()
        self._say(f"{name} was removed.")

    @rx.event
    async def refresh_uploads(self):
        """Clicked by /admin-uploads.js after an upload finished."""
        if await self._require("catalog:read") is None or not self.product_id:
            return
        await self._reload()


# --- the form ------------------------------------------------------------------------------


def _error(name: str) -> rx.Component:
    s = AdminProductEditState
    return rx.cond(
        s.errors.contains(name),  # type: ignore[attr-defined]
        rx.el.p(s.errors[name], id=f"product-{name}-error", class_name="field-error"),
    )


def _field(name: str, control: rx.Component, hint: str = "") -> rx.Component:
    return rx.el.div(
        rx.el.label(FIELD_LABELS[name], class_name="field-label", html_for=f"product-{name}"),
        control,
        rx.el.p(hint, class_name="field-hint") if hint else rx.fragment(),
        _error(name),
        class_name="field",
    )


def _checkbox(name: str, label: str) -> rx.Component:
    s = AdminProductEditState
    return rx.el.div(
        rx.el.input(
            id=f"product-{name}",
            name=name,
            type="checkbox",
            default_checked=s.values[name] == "true",
        ),
        rx.el.label(label, class_name="field-label", html_for=f"product-{name}"),
        class_name="checkbox-field",
    )


def _input(name: str, **props: Any) -> rx.Component:
    s = AdminProductEditState
    return _field(
        name,
        rx.el.input(
            id=f"product-{name}",
            class_name="input",
            name=name,
            default_value=s.values[name],
            aria_invalid=rx.cond(s.errors.contains(name), "true", "false"),  # type: ignore[attr-defined]
            aria_describedby=f"product-{name}-error",
            **{k: v for k, v in props.items() if k != "hint"},
        ),
        hint=props.get("hint", ""),
    )


def _choice(name: str, options: list[tuple[str, str]], extra: Any = None) -> rx.Component:
    s = AdminProductEditState
    return _field(
        name,
        rx.el.select(
            *[rx.el.option(text, value=value) for value, text in options],
            extra if extra is not None else rx.fragment(),
            id=f"product-{name}",
            class_name="input",
            name=name,
            default_value=s.values[name],
            aria_describedby=f"product-{name}-error",
        ),
    )


def product_form() -> rx.Component:
    s = AdminProductEditState
    return rx.el.form(
        rx.el.fieldset(
            rx.el.legend("Product"),
            _input("name", required=True, max_length=products_admin.NAME_MAX),
            _input("slug", hint="Web address: /products/<slug>. Empty: made from the name."),
            _field(
                "description",
                rx.el.textarea(
                    id="product-description",
                    class_name="input",
                    name="description",
                    default_value=s.values["description"],
                    rows=8,
                    aria_describedby="product-description-error",
                    on_blur=s.preview,
                ),
                hint="Markdown. The preview below updates when you leave the box.",
            ),
            rx.el.div(
                rx.el.h2("Preview", class_name="field-hint"),
                rx.html(s.preview_html, class_name="markdown-preview"),
                class_name="admin-preview",
                # No "Description" in its name: finding that box by its label must not find this.
                aria_label="Preview",
                role="region",
            ),
            class_name="admin-fieldset",
        ),
        rx.el.fieldset(
            rx.el.legend("Price"),
            _input("price", inputmode="decimal", hint="In dollars, e.g. 19.99."),
            _choice(
                "currency",
                FORM_CURRENCIES,
                # A product made through the API in another currency keeps it when saved here.
                rx.cond(
                    s.other_currency != "",
                    rx.el.option(s.other_currency.upper(), value=s.other_currency),  # type: ignore[attr-defined]
                ),
            ),
            _choice("kind", [("one_time", "One-time"), ("subscription", "Subscription")]),
            _choice(
                "interval",
                [("", "— (one-time)"), ("month", "Monthly"), ("year", "Yearly")],
            ),
            class_name="admin-fieldset",
        ),
        rx.el.fieldset(
            rx.el.legend("Catalogue and search engines"),
            _choice(
                "category",
                [("", "No category")],
                rx.foreach(s.categories, lambda c: rx.el.option(c["name"], value=c["slug"])),
            ),
            _input("seo_title", max_length=products_admin.SEO_TITLE_MAX),
            _input(
                "seo_description",
                max_length=products_admin.SEO_DESCRIPTION_MAX,
                hint="What search results and link previews show under the title. Empty: the "
                "start of the description.",
            ),
            class_name="admin-fieldset",
        ),
        rx.el.fieldset(
            rx.el.legend("Stock and downloads"),
            _input("inventory", inputmode="numeric", hint="Empty = unlimited; 0 = sold out."),
            _input("download_limit", inputmode="numeric", hint="Empty = the shop default."),
            _input(
                "download_days",
                inputmode="numeric",
                hint="Days a buyer can download after paying. Empty = the shop default.",
            ),
            _checkbox("is_active", "Active (on sale in the storefront)"),
            _checkbox("is_tax_exempt", "Tax-exempt (no sales tax is charged on it)"),
            _checkbox("is_featured", "Featured (shown first on the home page)"),
            class_name="admin-fieldset",
        ),
        _error("form"),
        # Only staff who may change products get this form (see product_details for the rest).
        rx.el.button(
            rx.cond(s.editing, "Save changes", "Create product"),
            type="submit",
            class_name="button button-primary",
        ),
        key=s.form_key.to_string(),  # type: ignore[attr-defined]
        on_submit=s.save,
        class_name="form",
        aria_label="Product details",
        no_validate=True,
    )


def product_details() -> rx.Component:
    """The product for staff who may look but not change it (support): its facts as text and
    its description as the storefront shows it; no boxes that look editable."""
    s = AdminProductEditState
    return rx.el.section(
        rx.el.p("Your account may look at products but not change them.", class_name="muted"),
        rx.el.dl(
            rx.foreach(
                s.facts,
                lambda fact: rx.el.div(
                    rx.el.dt(fact["label"]),
                    rx.el.dd(fact["value"]),
                    class_name="facts-row",
                    # The labels are longer than the account page's, for which .facts is made.
                    style={"grid_template_columns": "minmax(8rem, 13rem) 1fr"},
                ),
            ),
            class_name="facts product-facts",
        ),
        rx.el.h2(FIELD_LABELS["description"], class_name="field-label"),
        rx.html(s.preview_html, class_name="markdown-preview"),
        class_name="admin-fieldset",
        aria_label="Product details",
    )


def _upload(kind: str, label: str, accept: str, url: rx.Var) -> rx.Component:
    return rx.el.div(
        rx.el.label(label, class_name="field-label", html_for=f"upload-{kind}"),
        rx.el.input(id=f"upload-{kind}", type="file", accept=accept),
        rx.el.button(
            f"Upload {kind}",
            type="button",
            class_name="button",
            custom_attrs={
                "data-upload-url": url,
                "data-upload-input": f"upload-{kind}",
                "data-upload-status": f"upload-{kind}-status",
            },
        ),
        rx.el.p(id=f"upload-{kind}-status", role="status", class_name="upload-status"),
        class_name="field",
    )


def uploads_section() -> rx.Component:
    s = AdminProductEditState
    return rx.el.section(
        rx.el.h2("Uploads"),
        rx.el.div(
            rx.cond(
                s.image_url != "",
                rx.el.img(
                    src=s.image_url,
                    alt="Current image",
                    class_name="admin-thumb",
                    width="320",
                    height="240",
                ),
                rx.el.p("No image yet.", class_name="muted"),
            ),
            _upload(
                "image",
                "Image (PNG, JPEG or WebP)",
                "image/png,image/jpeg,image/webp",
                s.upload_image_url,
            ),
        ),
        rx.el.h3("Downloadable files"),
        rx.cond(
            s.files.length() > 0,  # type: ignore[attr-defined]
            rx.el.table(
                # A caption, not an aria-label: get_by_label("Downloadable file") must find the
                # upload box only.
                rx.el.caption("Downloadable files", class_name="visually-hidden"),
                rx.el.thead(
                    rx.el.tr(
                        rx.el.th("File", scope="col"),
                        rx.el.th("Size", scope="col"),
                        rx.el.th("SHA-256", scope="col"),
                        rx.cond(s.can_write, rx.el.th("Actions", scope="col")),
                    )
                ),
                rx.el.tbody(
                    rx.foreach(
                        s.files,
                        lambda f: rx.el.tr(
                            rx.el.td(f["name"]),
                            rx.el.td(f["size"]),
                            rx.el.td(rx.el.code(f["sha256"]), "…"),
                            rx.cond(
                                s.can_write,
                                rx.el.td(
                                    rx.el.button(
                                        "Remove",
                                        type="button",
                                        class_name="button button-ghost",
                                        aria_label="Remove " + f["name"],
                                        on_click=s.remove_file(f["id"]),  # type: ignore[operator]
                                    )
                                ),
                            ),
                        ),
                    )
                ),
                class_name="table",
            ),
            rx.el.p("No files yet: buyers would get nothing to download.", class_name="muted"),
        ),
        _upload("file", "Downloadable file", "", s.upload_file_url),
        rx.el.button(
            "Refresh uploads",
            id="uploads-refresh",
            type="button",
            hidden=True,
            on_click=s.refresh_uploads,
        ),
        rx.script(src="/admin-uploads.js"),
        class_name="admin-uploads",
        # Not "Image and files": get_by_label("Image") and get_by_label("File") must each find
        # their upload box alone.
        aria_label="Uploads",
    )


def _actions() -> rx.Component:
    s = AdminProductEditState
    return rx.el.section(
        rx.el.h2("Stripe and availability"),
        rx.el.p(
            "Stripe: ",
            rx.el.strong(s.sync),
            rx.cond(s.sync_error != "", rx.el.span(" — ", s.sync_error)),
        ),
        rx.el.p(
            rx.cond(s.is_active, "On sale at ", "Archived (not in the storefront). "),
            # The address as text and a link named for what it does: a link named by the
            # address ("/products/…") was found by the name of the header's "Products" too.
            rx.cond(
                s.is_active,
                rx.fragment(
                    rx.el.code(s.storefront_url),
                    ". ",
                    link("Open it in the storefront", to=s.storefront_url),
                ),
                rx.fragment(),
            ),
        ),
        rx.el.div(
            rx.cond(
                s.is_active,
                rx.el.button("Archive", type="button", class_name="button", on_click=s.archive),
            ),
            rx.el.button(
                "Delete",
                type="button",
                class_name="button button-danger",
                on_click=s.delete,
            ),
            rx.el.p(
                "Delete removes a product nobody bought; one with orders or subscriptions is "
                "archived instead.",
                class_name="field-hint",
            ),
            class_name="form-actions",
        ),
        class_name="admin-product-actions",
    )


def _edit_body() -> rx.Component:
    s = AdminProductEditState
    return rx.fragment(
        back_link("Back to the product list", to="/admin/products"),
        message_box(s.message, s.message_error),
        rx.cond(
            s.loaded,
            rx.cond(
                s.found,
                rx.cond(
                    s.can_write,
                    rx.fragment(
                        product_form(),
                        rx.cond(s.editing, rx.fragment(uploads_section(), _actions())),
                    ),
                    product_details(),
                ),
                rx.el.p("No such product.", class_name="notice notice-error", role="alert"),
            ),
            loading_notice(),
        ),
    )


def admin_product_new_page() -> rx.Component:
    return admin_page("New product", _edit_body(), state=AdminProductEditState)


def admin_product_edit_page() -> rx.Component:
    s = AdminProductEditState
    # Support may look, not edit: its page is not called "Edit product".
    title = rx.cond(s.allowed & s.loaded & ~s.can_write, "Product details", "Edit product")
    return admin_page(title, _edit_body(), state=s)
