"""Form building blocks: plain HTML forms that post to the server, and labelled fields.

`rx.el.form` always installs an onSubmit handler that calls `preventDefault()` (Reflex turns
the submission into a websocket event), so a form meant to post to an API endpoint (sign-in,
sign-out, passwords: secrets that must never pass through UI state) would never leave the
page. `native_form` renders a bare <form action method> that the browser submits itself.
"""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from reflex.vars.function import FunctionStringVar
from reflex_components_core.el.elements.forms import Form


class NativeForm(Form):
    """A <form> without Reflex's submit handler: the browser posts it to `action`."""

    @classmethod
    def create(cls, *children: Any, **props: Any) -> rx.Component:
        if "on_submit" in props:
            raise ValueError("a native form is posted by the browser; use rx.el.form for events")
        # Skip Form.create, which would add the preventDefault handler.
        return super(Form, cls).create(*children, **props)

    def add_hooks(self) -> list[str]:
        return []


def native_form(*children: rx.Component, action: str, **props: Any) -> rx.Component:
    return NativeForm.create(*children, action=action, method="post", **props)


def kept_after_refusal(box_id: str) -> dict[str, Any]:
    """Props for a box of a native form (not a password) whose text the page shows again
    when the server sends the form back refused (`?error=…` in the address): sign-in after a
    wrong password, sign-up after a weak one.

    It all happens in the browser: the text is kept in this tab's sessionStorage as it is
    typed (and, when the page comes alive, what was typed before), put back into the box on
    the refused page, and forgotten on any other visit. A
    round trip through the event websocket could be cut short by the form's own navigation.
    The handlers are compiled into the bundle (no eval, which the CSP forbids)."""
    key, box = json.dumps(f"shop-typed-{box_id}"), json.dumps(box_id)
    remember: rx.Var = FunctionStringVar.create(
        f"((value) => {{ try {{ sessionStorage.setItem({key}, String(value ?? '')); }} "
        "catch (error) {} })"
    )
    restore: rx.Var = FunctionStringVar.create(
        "(() => { try { "
        "const refused = new URLSearchParams(window.location.search).has('error'); "
        f"const typed = sessionStorage.getItem({key}); "
        f"const input = document.getElementById({box}); "
        # Not refused: start afresh, but keep what was typed before the page came alive.
        f"if (!refused) {{ if (input && input.value) {{ sessionStorage.setItem({key}, "
        f"input.value); }} else {{ sessionStorage.removeItem({key}); }} return; }} "
        "if (input && typed && !input.value) { input.value = typed; } "
        "} catch (error) {} })"
    )
    return {"on_change": remember, "on_mount": restore}


def field(
    label: str,
    control: rx.Component,
    *,
    control_id: str,
    error: rx.Var | str | None = None,
    hint: str | None = None,
) -> rx.Component:
    """A label above its control, an optional hint, and the error for this field (if any)."""
    parts: list[rx.Component] = [rx.el.label(label, html_for=control_id, class_name="field-label")]
    if hint is not None:
        parts.append(rx.el.p(hint, id=f"{control_id}-hint", class_name="field-hint"))
    parts.append(control)
    if error is not None:
        parts.append(
            rx.cond(
                error != "",
                rx.el.p(error, id=f"{control_id}-error", class_name="field-error", role="alert"),
            )
        )
    return rx.el.div(*parts, class_name="field")


def text_input(
    *,
    id: str,
    name: str,
    type: str = "text",
    autocomplete: str | None = None,
    required: bool = False,
    invalid: rx.Var | bool = False,
    has_hint: bool = False,
    **props: Any,
) -> rx.Component:
    """An <input> tied to its hint and, when `invalid`, to its error message."""
    hint = [f"{id}-hint"] if has_hint else []
    with_error = " ".join([*hint, f"{id}-error"])
    if isinstance(invalid, bool):
        aria: dict[str, Any] = {"aria_invalid": "true" if invalid else "false"}
        described: Any = with_error if invalid else " ".join(hint)
    else:
        aria = {"aria_invalid": rx.cond(invalid, "true", "false")}
        described = rx.cond(invalid, with_error, " ".join(hint))
    return rx.el.input(
        id=id,
        name=name,
        type=type,
        auto_complete=autocomplete,
        required=required,
        aria_describedby=described,
        class_name="input",
        **aria,
        **props,
    )


def new_password_field(*, label: str, name: str, hint: str, error: rx.Var | str) -> rx.Component:
    """A password being chosen (sign-up, reset, change): browsers offer to generate one."""
    return field(
        label,
        text_input(
            id=name,
            name=name,
            type="password",
            autocomplete="new-password",
            required=True,
            invalid=error != "",
            has_hint=True,
        ),
        control_id=name,
        hint=hint,
        error=error,
    )


def form_notice(message: rx.Var | str, *, tone: str = "info") -> rx.Component:
    """A message above a form (an error from the server, or a confirmation)."""
    return rx.cond(
        message != "",
        rx.el.div(
            message,
            class_name="notice notice-error" if tone == "error" else "notice notice-success",
            role="alert" if tone == "error" else "status",
        ),
    )
