"""/admin/categories: create, rename, reorder and delete (when empty) the catalog's shelves.

Every handler checks the permission on the server first: "catalog:read" to look (support
staff), "catalog:write" to change; the forms and buttons are shown to those who may change.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from shop.components.admin import admin_page, outcome_notice
from shop.db import session_scope
from shop.services import categories, ids
from shop.services.auth import CurrentUser
from shop.services.errors import ShopError
from shop.state.staff import StaffState


def _overview() -> list[dict[str, str]]:
    with session_scope() as session:
        summaries = categories.category_overview(session=session)
    last = len(summaries) - 1
    return [
        {
            "id": str(c.id),
            "name": c.name,
            "slug": c.slug,
            "count": str(c.product_count),
            "first": "yes" if i == 0 else "",
            "last": "yes" if i == last else "",
        }
        for i, c in enumerate(summaries)
    ]


def _create(name: str, actor: CurrentUser) -> str:
    with session_scope() as session:
        return categories.create_category(session=session, name=name, actor=actor).name


def _rename(category_id: int, name: str, actor: CurrentUser) -> str:
    with session_scope() as session:
        return categories.rename_category(
            session=session, category_id=category_id, name=name, actor=actor
        ).name


def _move(category_id: int, offset: int, actor: CurrentUser) -> None:
    with session_scope() as session:
        categories.move_category(
            session=session, category_id=category_id, offset=offset, actor=actor
        )


def _delete(category_id: int, actor: CurrentUser) -> str:
    with session_scope() as session:
        name = categories.get_category(session=session, id_or_slug=category_id).name
        categories.delete_category(session=session, category_id=category_id, actor=actor)
        return name


class AdminCategoriesState(StaffState):
    categories: list[dict[str, str]] = []
    message: str = ""
    message_error: bool = False
    create_error: str = ""
    rename_error: str = ""
    # Re-mounts the forms (empty boxes) after a successful change.
    form_key: int = 0
    can_write: bool = False

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message, self.message_error = text, error

    async def _fetch(self) -> None:
        self.categories = await asyncio.to_thread(_overview)

    @rx.event
    async def load(self):
        self.categories = []
        self._say("")
        self.create_error = self.rename_error = ""
        user = await self._require("catalog:read")
        if user is None:
            return
        self.can_write = "catalog:write" in user.permissions
        await self._fetch()

    @rx.event
    async def create(self, form_data: dict[str, Any]):
        user = await self._require("catalog:write")
        if user is None:
            return
        try:
            name = await asyncio.to_thread(_create, str(form_data.get("name") or ""), user)
        except ShopError as exc:
            self.create_error = exc.message
            self._say("")
            return
        self.create_error = ""
        self.form_key += 1
        self._say(f"Category “{name}” created.")
        await self._fetch()

    @rx.event
    async def rename(self, form_data: dict[str, Any]):
        user = await self._require("catalog:write")
        if user is None:
            return
        category_id = ids.parse_id(form_data.get("category_id"))
        if category_id is None:
            self.rename_error = "Choose the category to rename."
            return
        try:
            name = await asyncio.to_thread(
                _rename, category_id, str(form_data.get("name") or ""), user
            )
        except ShopError as exc:
            self.rename_error = exc.message
            self._say("")
            return
        self.rename_error = ""
        self.form_key += 1
        self._say(f"Renamed to “{name}”.")
        await self._fetch()

    @rx.event
    async def move(self, category_id: str, offset: int):
        user = await self._require("catalog:write")
        target = ids.parse_id(category_id)
        if user is None or target is None or offset not in (-1, 1):
            return
        try:
            await asyncio.to_thread(_move, target, offset, user)
        except ShopError as exc:
            self._say(exc.message, error=True)
            return
        self._say("Order saved.")
        await self._fetch()

    @rx.event
    async def delete(self, category_id: str):
        user = await self._require("catalog:write")
        target = ids.parse_id(category_id)
        if user is None or target is None:
            return
        try:
            name = await asyncio.to_thread(_delete, target, user)
        except ShopError as exc:
            self._say(f"Not deleted: {exc.message}", error=True)
            return
        self._say(f"Category “{name}” deleted.")
        await self._fetch()


def _row(category: Any) -> rx.Component:
    s = AdminCategoriesState
    name = category["name"]
    return rx.el.tr(
        rx.el.td(name, rx.el.br(), rx.el.small(category["slug"])),
        rx.el.td(category["count"]),
        rx.cond(s.can_write, _actions(category)),
    )


def _move_button(category: Any, label: str, offset: int, *, at_end: Any) -> rx.Component:
    return rx.el.button(
        label,
        type="button",
        class_name="button button-ghost",
        aria_label="Move " + category["name"] + " " + label.lower(),
        disabled=at_end,
        on_click=AdminCategoriesState.move(category["id"], offset),  # type: ignore[operator]
    )


def _actions(category: Any) -> rx.Component:
    s = AdminCategoriesState
    name = category["name"]
    return rx.el.td(
        _move_button(category, "Up", -1, at_end=category["first"] != ""),
        _move_button(category, "Down", 1, at_end=category["last"] != ""),
        rx.el.button(
            "Delete",
            type="button",
            class_name="button button-ghost",
            aria_label="Delete " + name,
            on_click=s.delete(category["id"]),  # type: ignore[operator]
        ),
    )


def _error(text: Any, element_id: str) -> rx.Component:
    return rx.cond(text != "", rx.el.p(text, id=element_id, class_name="field-error"))


def admin_categories_page() -> rx.Component:
    s = AdminCategoriesState
    return admin_page(
        "Categories",
        outcome_notice(AdminCategoriesState.message, AdminCategoriesState.message_error),
        rx.el.table(
            rx.el.thead(
                rx.el.tr(
                    rx.el.th("Category", scope="col"),
                    rx.el.th("Products", scope="col"),
                    rx.cond(s.can_write, rx.el.th("Actions", scope="col")),
                )
            ),
            rx.el.tbody(rx.foreach(s.categories, _row)),
            class_name="table",
            aria_label="Categories",
        ),
        rx.cond(s.can_write, _forms()),
        state=s,
    )


def _forms() -> rx.Component:
    s = AdminCategoriesState
    return rx.fragment(
        rx.el.form(
            rx.el.h2("New category"),
            rx.el.div(
                rx.el.label("Name", class_name="field-label", html_for="category-new-name"),
                rx.el.input(
                    id="category-new-name",
                    class_name="input",
                    name="name",
                    required=True,
                    max_length=categories.NAME_MAX,
                    aria_describedby="category-new-error",
                ),
                _error(s.create_error, "category-new-error"),
                class_name="field",
            ),
            rx.el.button("Create category", type="submit", class_name="button button-primary"),
            key="create-" + s.form_key.to_string(),  # type: ignore[attr-defined]
            on_submit=s.create,
            class_name="form",
            aria_label="New category",
        ),
        rx.el.form(
            rx.el.h2("Rename a category"),
            rx.el.div(
                # No label on this form holds "name": `get_by_label("Name")` finds the new
                # category's box alone.
                rx.el.label(
                    "Category to change", class_name="field-label", html_for="category-rename-id"
                ),
                rx.el.select(
                    rx.el.option("Choose…", value=""),
                    rx.foreach(s.categories, lambda c: rx.el.option(c["name"], value=c["id"])),
                    id="category-rename-id",
                    class_name="input",
                    name="category_id",
                ),
                class_name="field",
            ),
            rx.el.div(
                rx.el.label("New title", class_name="field-label", html_for="category-rename-name"),
                rx.el.input(
                    id="category-rename-name",
                    class_name="input",
                    name="name",
                    required=True,
                    max_length=categories.NAME_MAX,
                    aria_describedby="category-rename-error",
                ),
                _error(s.rename_error, "category-rename-error"),
                class_name="field",
            ),
            rx.el.button("Rename", type="submit", class_name="button"),
            key="rename-" + s.form_key.to_string(),  # type: ignore[attr-defined]
            on_submit=s.rename,
            class_name="form",
            aria_label="Change a category",
        ),
    )
