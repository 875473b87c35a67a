"""/admin/promo-codes: the codes with their discount, conditions and uses; create one; withdraw
or restore one. Each change is mirrored to Stripe (Coupon + PromotionCode) after it commits.

Every handler checks "promo_codes:write" on the server before reading or changing anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from shop.components.admin import admin_page, outcome_notice
from shop.db import session_scope
from shop.services import ids, promo_code_form, promo_codes
from shop.services.auth import CurrentUser
from shop.services.errors import ShopError
from shop.state.staff import StaffState

PERMISSION = "promo_codes:write"
FORM_BOXES = (
    "code",
    "percent_off",
    "amount_off",
    "currency",
    "expires_at",
    "max_redemptions",
    "min_subtotal",
)


def _overview() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    with session_scope() as session:
        names = promo_codes.product_choices(session=session)
        codes = [
            {
                "id": str(promo.id),
                "code": promo.code,
                "discount": promo_code_form.describe_discount(promo),
                "conditions": promo_code_form.describe_conditions(promo, names),
                "uses": promo_code_form.describe_uses(promo),
                "active": "yes" if promo.is_active else "",
                "status": "Active" if promo.is_active else "Withdrawn",
                "stripe": "Mirrored"
                if promo.stripe_promotion_code_id and not promo.sync_error
                else f"Not mirrored: {promo.sync_error}"
                if promo.sync_error
                else "Not mirrored yet",
            }
            for promo in promo_codes.list_promo_codes(session=session)
        ]
    products = [{"id": str(pid), "name": name} for pid, name in names.items()]
    return codes, products


def _create(form_data: dict[str, Any], actor: CurrentUser) -> tuple[str, str | None]:
    fields = promo_code_form.parse_promo_form(form_data)
    with session_scope() as session:
        promo = promo_codes.create_promo_code(session=session, actor=actor, **fields)
        promo_id, code = promo.id, promo.code
    assert promo_id is not None
    with session_scope() as session:
        mirrored = promo_codes.sync_to_stripe(session=session, promo_code_id=promo_id)
        return code, mirrored.sync_error


def _set_active(promo_code_id: int, active: bool, actor: CurrentUser) -> tuple[str, str | None]:
    with session_scope() as session:
        code = promo_codes.set_active(
            session=session, promo_code_id=promo_code_id, active=active, actor=actor
        ).code
    with session_scope() as session:
        mirrored = promo_codes.mirror_active_to_stripe(session=session, promo_code_id=promo_code_id)
        return code, mirrored.sync_error


class AdminPromoCodesState(StaffState):
    codes: list[dict[str, str]] = []
    products: list[dict[str, str]] = []
    message: str = ""
    message_error: bool = False
    form_error: str = ""  # shown under the box `error_field` names
    error_field: str = ""
    general_error: str = ""  # a refusal no single box explains
    # Re-mounts the form (empty boxes) after a code is created.
    form_key: int = 0

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message, self.message_error = text, error

    async def _fetch(self) -> None:
        self.codes, self.products = await asyncio.to_thread(_overview)

    @rx.event
    async def load(self):
        self.codes, self.products = [], []
        self._say("")
        self.form_error = self.error_field = self.general_error = ""
        if await self._require(PERMISSION) is None:
            return
        await self._fetch()

    @rx.event
    async def create(self, form_data: dict[str, Any]):
        user = await self._require(PERMISSION)
        if user is None:
            return
        try:
            code, sync_error = await asyncio.to_thread(_create, form_data, user)
        except ShopError as exc:
            boxed = exc.field in FORM_BOXES
            self.form_error, self.error_field = (
                (exc.message, exc.field or "") if boxed else ("", "")
            )
            self.general_error = "" if boxed else exc.message
            self._say("")
            return
        self.form_error = self.error_field = self.general_error = ""
        self.form_key += 1
        if sync_error:
            self._say(f"Promo code {code} created; Stripe did not take it yet: {sync_error}")
        else:
            self._say(f"Promo code {code} created.")
        await self._fetch()

    @rx.event
    async def set_active(self, promo_code_id: str, active: bool):
        user = await self._require(PERMISSION)
        target = ids.parse_id(promo_code_id)
        if user is None or target is None:
            return
        try:
            code, sync_error = await asyncio.to_thread(_set_active, target, bool(active), user)
        except ShopError as exc:
            self._say(exc.message, error=True)
            return
        done = "restored" if active else "withdrawn: checkout refuses it from now on"
        note = f" Stripe did not take the change yet: {sync_error}" if sync_error else ""
        self._say(f"Promo code {code} {done}.{note}")
        await self._fetch()


def _row(promo: Any) -> rx.Component:
    s = AdminPromoCodesState
    code = promo["code"]
    action = rx.cond(promo["active"] != "", "Withdraw", "Restore")
    return rx.el.tr(
        rx.el.td(rx.el.strong(code)),
        rx.el.td(promo["discount"]),
        rx.el.td(promo["conditions"]),
        rx.el.td(promo["uses"], class_name="nowrap"),
        rx.el.td(promo["status"], rx.el.br(), rx.el.small(promo["stripe"])),
        rx.el.td(
            # Named by its text ("Withdraw SAVE10"), not by aria-label: a label finder looking
            # for a box ("Code") would match an aria-label holding a code that contains it.
            rx.el.button(
                action,
                rx.el.span(" ", code, class_name="visually-hidden"),
                type="button",
                class_name="button button-ghost",
                on_click=s.set_active(promo["id"], promo["active"] == ""),  # type: ignore[operator]
            )
        ),
    )


def _field(
    name: str, label: str, *, hint: str = "", input_type: str = "text", **attrs: Any
) -> rx.Component:
    s = AdminPromoCodesState
    field_id = f"promo-{name}"
    return rx.el.div(
        rx.el.label(label, class_name="field-label", html_for=field_id),
        rx.el.input(
            id=field_id,
            name=name,
            type=input_type,
            class_name="input",
            aria_describedby=f"{field_id}-hint {field_id}-error",
            aria_invalid=rx.cond(s.error_field == name, "true", "false"),
            **attrs,
        ),
        rx.el.small(hint, id=f"{field_id}-hint", class_name="muted") if hint else rx.fragment(),
        rx.cond(
            s.error_field == name,
            rx.el.p(s.form_error, id=f"{field_id}-error", class_name="field-error"),
        ),
        class_name="field",
    )


def _product_choice(product: Any) -> rx.Component:
    field_id = "promo-product-" + product["id"]
    return rx.el.div(
        rx.el.input(id=field_id, name="product_" + product["id"], type="checkbox"),
        rx.el.label(product["name"], html_for=field_id),
        class_name="checkbox-field",
    )


def _create_form() -> rx.Component:
    s = AdminPromoCodesState
    return rx.el.form(
        rx.el.h2("New promo code", class_name="section-title"),
        _field("code", "Code", required=True, max_length=64, hint="Letters, digits, - or _."),
        rx.el.fieldset(
            rx.el.legend("Discount (one of the two)"),
            _field("percent_off", "Percent off", inputmode="decimal", hint="For example 15."),
            _field("amount_off", "Amount off", inputmode="decimal", hint="For example 5.00."),
            _field("currency", "Currency", default_value="CAD", max_length=3),
            class_name="admin-fieldset",
        ),
        rx.el.fieldset(
            rx.el.legend("Conditions"),
            _field(
                "expires_at",
                "Expires at (UTC)",
                input_type="datetime-local",
                hint="Empty: never.",
            ),
            _field(
                "max_redemptions",
                "Redemption limit",
                inputmode="numeric",
                hint="How many paid orders may use it; empty: no limit.",
            ),
            _field(
                "min_subtotal",
                "Minimum subtotal",
                inputmode="decimal",
                hint="Before tax; empty: none.",
            ),
            rx.el.div(
                rx.el.input(
                    id="promo-once_per_customer",
                    name="once_per_customer",
                    type="checkbox",
                    default_checked=True,
                ),
                rx.el.label("Once per customer", html_for="promo-once_per_customer"),
                class_name="checkbox-field",
            ),
            class_name="admin-fieldset",
        ),
        rx.el.fieldset(
            rx.el.legend("Only for these products (none ticked: the whole order)"),
            rx.foreach(s.products, _product_choice),
            class_name="admin-fieldset",
        ),
        rx.cond(
            s.general_error != "",
            rx.el.p(s.general_error, class_name="field-error", role="alert"),
        ),
        rx.el.button("Create promo code", type="submit", class_name="button button-primary"),
        key="create-" + s.form_key.to_string(),  # type: ignore[attr-defined]
        on_submit=s.create,
        class_name="form",
        # Not "New promo code": get_by_label("Code") matched the form as well as its Code box.
        aria_label="New discount",
    )


def admin_promo_codes_page() -> rx.Component:
    s = AdminPromoCodesState
    return admin_page(
        "Promo codes",
        outcome_notice(AdminPromoCodesState.message, AdminPromoCodesState.message_error),
        rx.cond(
            s.codes.length() > 0,  # type: ignore[attr-defined]
            rx.el.table(
                # A caption names the table without an aria-label that get_by_label("Code")
                # would match.
                rx.el.caption("Promo codes", class_name="visually-hidden"),
                rx.el.thead(
                    rx.el.tr(
                        rx.el.th("Code", scope="col"),
                        rx.el.th("Discount", scope="col"),
                        rx.el.th("Conditions", scope="col"),
                        rx.el.th("Used", scope="col"),
                        rx.el.th("Status", scope="col"),
                        rx.el.th("Actions", scope="col"),
                    )
                ),
                rx.el.tbody(rx.foreach(s.codes, _row)),
                class_name="table",
            ),
            rx.el.p("No promo codes yet.", class_name="muted"),
        ),
        _create_form(),
        state=s,
    )
