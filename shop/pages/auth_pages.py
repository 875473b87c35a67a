"""Signing in and out of accounts: /login, /register, /forgot-password, /reset-password and
/verify-email.

Passwords never enter Reflex state: the sign-in, sign-up, forgot-password and reset forms are
plain HTML forms posted by the browser to the /api/auth/*/form endpoints, which set the HttpOnly
session cookie and answer with a 303 back to a page. These states only read the query string
of that answer (an error code, a Retry-After, where to go next) and say what it means.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import reflex as rx

from shop.components.forms import (
    field,
    form_notice,
    kept_after_refusal,
    native_form,
    new_password_field,
    text_input,
)
from shop.components.layout import link, page
from shop.services import auth
from shop.services.errors import ShopError
from shop.settings import get_settings
from shop.state.auth_messages import error_text, notice_text
from shop.state.catalog_data import in_session
from shop.state.session import SessionState


def _query(state: rx.State, name: str, limit: int = 100) -> str:
    return (state.router.url.query_parameters.get(name) or "")[:limit]


class LoginState(SessionState):
    next_path: str = "/account"
    error: str = ""
    notice: str = ""

    @rx.var
    def signed_in_note(self) -> str:
        """A visitor signed in already is told so: the form switches to another account."""
        if not self.signed_in:
            return ""
        return f"You are signed in as {self.user_email}. Signing in here switches accounts."

    @rx.var
    def register_href(self) -> str:
        if self.next_path == "/account":
            return "/register"
        return "/register?next=" + quote(self.next_path, safe="/")

    @rx.event
    def load(self):
        self.next_path = auth.safe_next_path(_query(self, "next", 500))
        self.error = error_text(_query(self, "error"), retry_after=_query(self, "retry_after"))
        self.notice = notice_text(_query(self, "notice"))


class RegisterState(SessionState):
    next_path: str = "/account"
    error: str = ""
    error_field: str = ""

    @rx.event
    def load(self):
        self.next_path = auth.safe_next_path(_query(self, "next", 500))
        self.error = error_text(_query(self, "error"))
        self.error_field = _query(self, "field", 40) if self.error else ""

    @rx.var
    def email_error(self) -> str:
        return self.error if self.error_field == "email" else ""

    @rx.var
    def password_error(self) -> str:
        return self.error if self.error_field == "password" else ""

    @rx.var
    def other_error(self) -> str:
        return self.error if self.error_field not in ("email", "password") else ""


class ForgotPasswordState(SessionState):
    sent: bool = False
    error: str = ""

    @rx.event
    def load(self):
        self.sent = _query(self, "sent", 1) == "1"
        self.error = error_text(_query(self, "error"))


class ResetPasswordState(SessionState):
    token: str = ""
    error: str = ""

    @rx.event
    def load(self):
        self.token = _query(self, "token", 200)
        self.error = error_text(_query(self, "error"))


class VerifyEmailState(SessionState):
    # "" while checking, then "verified" or "invalid".
    outcome: str = ""

    @rx.event
    async def load(self):
        self.outcome = ""
        token = _query(self, "token", 200)
        ip = self.router.session.client_ip or None

        def verify(session: Any) -> bool:
            try:
                auth.verify_email(session=session, token=token, ip=ip)
            except ShopError:
                return False
            return True

        ok = bool(token) and await in_session(verify)
        self.outcome = "verified" if ok else "invalid"


# --- layout pieces ---------------------------------------------------------------------------


def auth_card(title: str, intro: str, *children: rx.Component) -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                rx.el.div(
                    rx.el.h1(title, class_name="page-title"),
                    rx.el.p(intro, class_name="muted"),
                    *children,
                    class_name="auth-card",
                ),
                class_name="container auth-container",
            ),
            class_name="section",
        )
    )


def _submit(label: str) -> rx.Component:
    return rx.el.button(label, type="submit", class_name="button button-primary button-block")


def email_field(
    *, error: rx.Var | str | None = None, autocomplete: str = "email", keep: bool = False
) -> rx.Component:
    """The Email box; with `keep`, it shows again what was typed when the server sends the
    form back refused (shop.components.forms.kept_after_refusal)."""
    invalid = error != "" if isinstance(error, rx.Var) else False
    return field(
        "Email",
        text_input(
            id="email",
            name="email",
            type="email",
            autocomplete=autocomplete,
            required=True,
            invalid=invalid,
            max_length=320,
            **(kept_after_refusal("email") if keep else {}),
        ),
        control_id="email",
        error=error,
    )


# --- pages -----------------------------------------------------------------------------------


def login_page() -> rx.Component:
    return auth_card(
        "Sign in",
        "Welcome back. Sign in to reach your orders, downloads and receipts.",
        form_notice(LoginState.signed_in_note),
        form_notice(LoginState.notice),
        form_notice(LoginState.error, tone="error"),
        native_form(
            rx.el.input(type="hidden", name="next", value=LoginState.next_path),
            email_field(autocomplete="username", keep=True),
            field(
                "Password",
                text_input(
                    id="password",
                    name="password",
                    type="password",
                    autocomplete="current-password",
                    required=True,
                    invalid=LoginState.error != "",
                ),
                control_id="password",
            ),
            _submit("Sign in"),
            action="/api/auth/login/form",
            class_name="form",
        ),
        rx.el.div(
            link("Forgot your password?", to="/forgot-password"),
            # Not "Create account": that is the header's link (and /register's button); two
            # links of one name on a page are ambiguous. This one keeps `next`.
            rx.el.span(
                "New here? ", link("Register for an account", to=LoginState.register_href), "."
            ),
            class_name="auth-links",
        ),
    )


def register_page() -> rx.Component:
    minimum = get_settings().password_min_length
    return auth_card(
        "Create account",
        "An account keeps your purchases, download links and receipts in one place.",
        form_notice(RegisterState.other_error, tone="error"),
        native_form(
            rx.el.input(type="hidden", name="next", value=RegisterState.next_path),
            email_field(error=RegisterState.email_error, keep=True),
            new_password_field(
                label="Password",
                name="password",
                hint=f"At least {minimum} characters. A few unrelated words make a strong one.",
                error=RegisterState.password_error,
            ),
            field(
                "Name (optional)",
                text_input(
                    id="name",
                    name="name",
                    autocomplete="name",
                    max_length=200,
                    **kept_after_refusal("name"),
                ),
                control_id="name",
            ),
            _submit("Create account"),
            action="/api/auth/register/form",
            class_name="form",
        ),
        rx.el.div(
            # Not "Sign in" (the header's link): a second link of that name is ambiguous.
            rx.el.span(
                "Already have an account? ", link("Go to the sign-in page", to="/login"), "."
            ),
            class_name="auth-links",
        ),
    )


def forgot_password_page() -> rx.Component:
    return auth_card(
        "Forgot your password?",
        "Enter the email address of your account and we will send you a link to choose "
        "a new password.",
        rx.cond(
            ForgotPasswordState.sent,
            rx.el.div(
                rx.el.p(
                    "If an account uses this address, a reset link is on its way. "
                    f"It works once and expires in {get_settings().password_reset_minutes} "
                    "minutes."
                ),
                class_name="notice notice-success",
                role="status",
            ),
            native_form(
                email_field(error=ForgotPasswordState.error),
                _submit("Send reset link"),
                action="/api/auth/password-reset/request/form",
                class_name="form",
            ),
        ),
        rx.el.div(link("Back to the sign-in page", to="/login"), class_name="auth-links"),
    )


def reset_password_page() -> rx.Component:
    minimum = get_settings().password_min_length
    return auth_card(
        "Choose a new password",
        "Your other sessions end when the new password is saved.",
        rx.cond(
            ResetPasswordState.token == "",
            rx.el.div(
                rx.el.p("This link is incomplete. Open the link from the email again."),
                class_name="notice notice-error",
                role="alert",
            ),
            native_form(
                rx.el.input(type="hidden", name="token", value=ResetPasswordState.token),
                new_password_field(
                    label="New password",
                    name="new_password",
                    hint=f"At least {minimum} characters.",
                    error=ResetPasswordState.error,
                ),
                _submit("Save new password"),
                action="/api/auth/password-reset/form",
                class_name="form",
            ),
        ),
        rx.el.div(link("Ask for a new link", to="/forgot-password"), class_name="auth-links"),
    )


def verify_email_page() -> rx.Component:
    return auth_card(
        "Confirm your email",
        "We check the link from your email.",
        rx.match(
            VerifyEmailState.outcome,
            (
                "verified",
                rx.el.div(
                    rx.el.p("Your email address is confirmed. Thank you!"),
                    class_name="notice notice-success",
                    role="status",
                ),
            ),
            (
                "invalid",
                rx.el.div(
                    rx.el.p(
                        "This link is invalid, already used or expired. "
                        "You can ask for a new one on your account page."
                    ),
                    class_name="notice notice-error",
                    role="alert",
                ),
            ),
            rx.el.p("Checking…", class_name="muted", aria_busy="true"),
        ),
        rx.el.div(
            # Named apart from the header's "Account" and "Sign in" links.
            rx.cond(
                SessionState.signed_in,
                link("Open your profile", to="/account", class_name="button button-primary"),
                link("Go to the sign-in page", to="/login", class_name="button button-primary"),
            ),
            class_name="auth-links",
        ),
    )
