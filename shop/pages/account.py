"""/account: profile, email verification, password change and the list of active sessions.

Every handler resolves the signed-in user on the server first (`current_user()`, from the
websocket handshake's cookie) and only then reads or changes that user's data; the ids the
browser sends back ("End session") are checked against that user by the service. The
password change is a plain form posted to /api/auth/password/form, so no password passes
through this state.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from shop.components.forms import field, form_notice, native_form, new_password_field, text_input
from shop.components.layout import link, page
from shop.models import UserSession
from shop.pages.account_orders import account_tabs
from shop.services import auth, clock, ids
from shop.services.auth import CurrentUser
from shop.settings import get_settings
from shop.state.auth_messages import error_text
from shop.state.catalog_data import in_session
from shop.state.session import SessionState


def describe_agent(user_agent: str | None) -> str:
    """ "Chrome on Linux" from a User-Agent header, roughly; enough to recognise a device."""
    agent = user_agent or ""
    if not agent:
        return "Unknown device"
    browsers = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-httpx", "API client"),
        ("testclient", "API client"),
    ]
    systems = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    browser = next((name for marker, name in browsers if marker in agent), "")
    system = next((name for marker, name in systems if marker in agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or agent[:40]


def _when(moment: Any) -> str:
    return clock.format_moment(moment)


def session_rows(rows: list[UserSession], current_id: int) -> list[dict[str, str]]:
    return [
        {
            "id": str(row.id),
            "device": describe_agent(row.user_agent),
            "ip": row.ip or "—",
            "started": _when(row.created_at),
            "last_seen": _when(row.last_seen_at),
            "current": "yes" if row.id == current_id else "",
        }
        for row in rows
    ]


class AccountState(SessionState):
    loaded: bool = False
    email: str = ""
    name: str = ""
    email_verified: bool = False
    sessions: list[dict[str, str]] = []
    profile_notice: str = ""
    verify_notice: str = ""
    sessions_notice: str = ""
    password_notice: str = ""
    password_error: str = ""
    password_error_field: str = ""

    def _fill(self, user: CurrentUser, rows: list[UserSession]) -> None:
        self.email = user.email
        self.name = user.name or ""
        self.email_verified = user.email_verified
        self.sessions = session_rows(rows, user.session_id)
        self.loaded = True

    async def _sessions_of(self, user: CurrentUser) -> list[UserSession]:
        return await in_session(lambda s: auth.list_sessions(session=s, user_id=user.id))

    @rx.event
    async def load(self):
        self.loaded = False
        user = await self._require_user()
        if user is None:
            return self._sign_in_redirect()
        self._fill(user, await self._sessions_of(user))
        params = self.router.url.query_parameters
        self.profile_notice = self.verify_notice = self.sessions_notice = ""
        self.password_error = error_text(params.get("error", "")[:100])
        self.password_error_field = params.get("field", "")[:40] if self.password_error else ""
        self.password_notice = ""
        if params.get("password") == "changed":
            ended = ids.parse_whole(params.get("ended"), ids.MAX_INT)
            self.password_notice = "Your password is changed." + (
                f" Other sessions ended: {ended}." if ended else ""
            )
        return None

    @rx.var
    def current_password_error(self) -> str:
        return self.password_error if self.password_error_field == "current_password" else ""

    @rx.var
    def new_password_error(self) -> str:
        return self.password_error if self.password_error_field != "current_password" else ""

    @rx.event
    async def save_profile(self, form: dict[str, Any]):
        user = await self._require_user()
        if user is None:
            return self._sign_in_redirect()
        name = str(form.get("name") or "")[:200]
        saved = await in_session(
            lambda s: auth.update_profile(session=s, current=user, changes={"name": name}).name
        )
        self.name = saved or ""
        self.user_name = self.name
        self.profile_notice = "Your name is saved."
        return None

    @rx.event
    async def resend_verification(self):
        user = await self._require_user()
        if user is None:
            return self._sign_in_redirect()
        if user.email_verified:
            self.email_verified = True
            self.verify_notice = "Your email address is already confirmed."
            return None
        sent = await in_session(lambda s: auth.resend_verification(session=s, user_id=user.id))
        self.verify_notice = (
            f"A new confirmation link is on its way to {user.email}."
            if sent
            else "Several links went out in the last hour; use the newest one, or try later."
        )
        return None

    @rx.event
    async def end_session(self, session_id: str):
        user = await self._require_user()
        if user is None:
            return self._sign_in_redirect()
        target = ids.parse_id(session_id)
        if target is None:
            return None
        if target == user.session_id:
            self.sessions_notice = "To end this session, use “Sign out”."
            return None
        ip = self.router.session.client_ip or None
        ended = await in_session(
            lambda s: auth.end_session(session=s, current=user, session_id=target, ip=ip)
        )
        self.sessions = session_rows(await self._sessions_of(user), user.session_id)
        self.sessions_notice = "The session is ended." if ended else "That session had ended."
        return None


# --- page ------------------------------------------------------------------------------------


def panel(title: str, *children: rx.Component, id: str) -> rx.Component:
    return rx.el.section(
        rx.el.h2(title, id=f"{id}-title", class_name="panel-title"),
        *children,
        class_name="panel",
        id=id,
        aria_labelledby=f"{id}-title",
    )


def profile_panel() -> rx.Component:
    s = AccountState
    return panel(
        "Profile",
        rx.el.dl(
            rx.el.div(rx.el.dt("Email"), rx.el.dd(s.email), class_name="facts-row"),
            rx.el.div(
                rx.el.dt("Status"),
                rx.el.dd(
                    rx.cond(
                        s.email_verified,
                        rx.el.span("Confirmed", class_name="badge badge-ok"),
                        rx.el.span("Not confirmed yet", class_name="badge badge-warn"),
                    )
                ),
                class_name="facts-row",
            ),
            class_name="facts",
        ),
        rx.cond(
            s.email_verified,
            rx.fragment(),
            rx.el.div(
                rx.el.p(
                    "Confirm your address with the link we emailed you, so receipts and "
                    "password resets reach you.",
                    class_name="muted",
                ),
                rx.el.button(
                    "Resend verification email",
                    type="button",
                    on_click=s.resend_verification,
                    class_name="button button-ghost",
                ),
            ),
        ),
        form_notice(s.verify_notice),
        rx.el.form(
            field(
                "Name",
                text_input(
                    id="profile-name",
                    name="name",
                    autocomplete="name",
                    default_value=s.name,
                    key=s.email,
                    max_length=200,
                ),
                control_id="profile-name",
            ),
            rx.el.button("Save name", type="submit", class_name="button button-primary"),
            on_submit=s.save_profile,
            class_name="form form-inline",
        ),
        form_notice(s.profile_notice),
        id="profile",
    )


def password_panel() -> rx.Component:
    s = AccountState
    minimum = get_settings().password_min_length
    return panel(
        "Change password",
        form_notice(s.password_notice),
        native_form(
            field(
                "Current password",
                text_input(
                    id="current_password",
                    name="current_password",
                    type="password",
                    autocomplete="current-password",
                    required=True,
                    invalid=s.current_password_error != "",
                ),
                control_id="current_password",
                error=s.current_password_error,
            ),
            new_password_field(
                label="New password",
                name="new_password",
                hint=f"At least {minimum} characters.",
                error=s.new_password_error,
            ),
            rx.el.div(
                rx.el.input(
                    id="end_other_sessions",
                    name="end_other_sessions",
                    type="checkbox",
                    value="on",
                    default_checked=True,
                ),
                rx.el.label("Sign out my other sessions", html_for="end_other_sessions"),
                class_name="checkbox-field",
            ),
            rx.el.button("Change password", type="submit", class_name="button button-primary"),
            action="/api/auth/password/form",
            class_name="form",
        ),
        id="password",
    )


def session_item(row: Any) -> rx.Component:
    return rx.el.tr(
        rx.el.td(
            row["device"],
            rx.cond(row["current"] == "yes", rx.el.span("This device", class_name="badge")),
        ),
        rx.el.td(row["ip"]),
        rx.el.td(row["started"]),
        rx.el.td(row["last_seen"]),
        rx.el.td(
            rx.cond(
                row["current"] == "yes",
                rx.el.span("—", class_name="muted"),
                rx.el.button(
                    "End session",
                    type="button",
                    on_click=AccountState.end_session(row["id"]),  # type: ignore[operator]
                    class_name="button button-ghost button-small",
                    # With when it began: two windows of one browser are two sessions of
                    # the same device and address, and need two names.
                    aria_label="End session on "
                    + row["device"]
                    + " from "
                    + row["ip"]
                    + ", signed in "
                    + row["started"],
                ),
            )
        ),
    )


def sessions_panel() -> rx.Component:
    return panel(
        "Active sessions",
        rx.el.p(
            "Where your account is signed in now. End any session you do not recognise, "
            "then change your password.",
            class_name="muted",
        ),
        form_notice(AccountState.sessions_notice),
        rx.el.div(
            rx.el.table(
                rx.el.thead(
                    rx.el.tr(
                        rx.el.th("Device", scope="col"),
                        rx.el.th("IP address", scope="col"),
                        rx.el.th("Signed in", scope="col"),
                        rx.el.th("Last active", scope="col"),
                        rx.el.th(rx.el.span("Actions", class_name="visually-hidden"), scope="col"),
                    )
                ),
                rx.el.tbody(rx.foreach(AccountState.sessions, session_item)),
                class_name="table",
            ),
            class_name="table-wrap",
        ),
        id="sessions",
    )


def account_page() -> rx.Component:
    return page(
        rx.el.section(
            rx.el.div(
                account_tabs("/account"),
                rx.el.h1("Your account", class_name="page-title"),
                rx.cond(
                    AccountState.loaded,
                    rx.el.div(
                        rx.el.p(
                            "Signed in as ",
                            rx.el.strong(AccountState.email),
                            ". ",
                            link("Browse the catalogue", to="/products"),
                            class_name="muted",
                        ),
                        rx.el.div(
                            profile_panel(),
                            password_panel(),
                            class_name="panel-grid",
                        ),
                        sessions_panel(),
                    ),
                    rx.el.p("Loading your account…", class_name="muted", aria_busy="true"),
                ),
                class_name="container",
            ),
            class_name="section",
        )
    )
