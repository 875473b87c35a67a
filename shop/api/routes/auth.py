"""Accounts: register, sign in and out, tokens, email verification, password reset, profile.

Each handler runs its service call in its own transaction and commits before answering, so
a 2xx always means the write is stored (and its emails leave after that commit).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Body, Form, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from shop.api.deps import CurrentUser, OptionalUser, bearer_token, client_ip
from shop.api.routes.cart import merge_at_sign_in
from shop.db import session_scope
from shop.services import auth
from shop.services.auth import Unauthorized
from shop.services.errors import ShopError
from shop.services.throttle import Throttled
from shop.settings import get_settings

router = APIRouter(prefix="/api/auth", tags=["auth"])

# Long enough for any policy-valid password, short enough that nobody hashes megabytes.
Password = Annotated[str, Field(min_length=1, max_length=4096)]
Email = Annotated[str, Field(min_length=3, max_length=320)]


class RegisterIn(BaseModel):
    email: Email
    password: Password
    name: str | None = Field(default=None, max_length=200)


class MessageOut(BaseModel):
    message: str


class LoginIn(BaseModel):
    email: Email
    password: Password


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutIn(BaseModel):
    refresh_token: str | None = Field(default=None, min_length=1, max_length=200)


class SessionUser(BaseModel):
    id: int
    email: str
    roles: list[str]


class SessionOut(BaseModel):
    user: SessionUser


class TokenIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)


class ResetRequestIn(BaseModel):
    email: Email


class ResetConfirmIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    new_password: Password


class PasswordChangeIn(BaseModel):
    current_password: Password
    new_password: Password
    end_other_sessions: bool = Field(default=True, strict=True)


class PasswordChangeOut(BaseModel):
    message: str
    other_sessions_ended: int


class ProfileOut(BaseModel):
    id: int
    email: str
    name: str | None
    email_verified: bool
    roles: list[str]
    permissions: list[str]


class ProfileIn(BaseModel):
    """What `PUT /api/auth/me` changes; a field left out stays as it is. The rest of the GET
    shape may be sent back: `email` only unchanged (422 otherwise), the others are ignored."""

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(
        default=None, max_length=320, description="Read-only: the account's address, unchanged."
    )


def set_session_cookie(response: Response, token: str) -> None:
    settings = get_settings()
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        max_age=settings.session_absolute_minutes * 60,
        path="/",
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    settings = get_settings()
    response.delete_cookie(
        auth.SESSION_COOKIE, path="/", secure=settings.is_https, httponly=True, samesite="lax"
    )


def _profile(user: auth.CurrentUser) -> ProfileOut:
    return ProfileOut(
        id=user.id,
        email=user.email,
        name=user.name,
        email_verified=user.email_verified,
        roles=list(user.roles),
        permissions=sorted(user.permissions),
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=MessageOut)
def register(body: RegisterIn, request: Request) -> MessageOut:
    with session_scope() as session:
        auth.register(
            session=session,
            email=body.email,
            password=body.password,
            name=body.name,
            ip=client_ip(request),
        )
    return MessageOut(message="Account created. Check your email to confirm your address.")


@router.post(
    "/login",
    response_model=TokensOut,
    responses={401: {"description": "Wrong email or password"}, 429: {"description": "Throttled"}},
)
def login(body: LoginIn, request: Request, response: Response) -> TokensOut:
    with session_scope() as session:
        signed_in = auth.sign_in(
            session=session,
            email=body.email,
            password=body.password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    if signed_in is None:
        raise Unauthorized("Wrong email or password.", code="invalid_credentials")
    set_session_cookie(response, signed_in.session_token)
    merge_at_sign_in(request, response, signed_in.user.id)
    tokens = signed_in.tokens
    return TokensOut(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@router.post("/login/form", status_code=status.HTTP_303_SEE_OTHER, response_class=Response)
def login_form(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=4096)],
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """For a plain HTML form on /login (no JavaScript, the password never enters UI state):
    303 to `next` (a local path, default /account) with the session cookie, or back to
    /login?error=invalid_credentials | too_many_attempts&retry_after=N."""
    target = _form_next(next, request)
    try:
        with session_scope() as session:
            signed_in = auth.sign_in(
                session=session,
                email=email,
                password=password,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
    except Throttled as exc:
        query = urlencode({"error": exc.code, "retry_after": exc.retry_after, "next": target})
        return RedirectResponse(f"/login?{query}", status_code=status.HTTP_303_SEE_OTHER)
    if signed_in is None:
        query = urlencode({"error": "invalid_credentials", "next": target})
        return RedirectResponse(f"/login?{query}", status_code=status.HTTP_303_SEE_OTHER)
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, signed_in.session_token)
    merge_at_sign_in(request, response, signed_in.user.id)
    return response


def _form_next(posted: str | None, request: Request) -> str:
    """Where a sign-in or sign-up form goes next: its `next` field, which the page fills in
    once it runs; a form sent before that carries the default, so the page's own address
    (the Referer, `/login?next=…`) says it instead. Always a local path."""
    target = auth.safe_next_path(posted)
    if target != auth.safe_next_path(None):
        return target
    referer = urlsplit(request.headers.get("referer") or "")
    if referer.path.rstrip("/") in ("/login", "/register"):
        asked = parse_qs(referer.query).get("next")
        if asked:
            return auth.safe_next_path(asked[0][:500])
    return target


def _see_other(path: str, query: dict[str, object] | None = None, fragment: str = "") -> Response:
    target = f"{path}?{urlencode(query)}" if query else path
    return RedirectResponse(
        target + (f"#{fragment}" if fragment else ""), status_code=status.HTTP_303_SEE_OTHER
    )


def _form_error(exc: ShopError, *, default_field: str) -> dict[str, object]:
    return {"error": exc.code, "field": exc.field or default_field}


@router.post("/register/form", status_code=status.HTTP_303_SEE_OTHER, response_class=Response)
def register_form(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=4096)],
    name: Annotated[str | None, Form(max_length=200)] = None,
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """For the plain HTML form on /register (the password never enters UI state).

    A new account is signed in at once: 303 to `next` (a local path, default /account) with
    the session cookie, and the visitor's cart merged into it as at sign-in. A refused password or malformed email: 303 back to
    /register?error=CODE&field=FIELD. An address that already has an account gets what the
    service gives it (an email to the owner, no account, no error naming the address): 303
    to /login?notice=check_email. Whoever submits the form can tell that they were not
    signed in; the per-IP API rate limit bounds how fast anyone can learn that way."""
    target = _form_next(next, request)
    back = {"next": target} if target != "/account" else {}
    try:
        with session_scope() as session:
            signed_in = auth.register_and_sign_in(
                session=session,
                email=email,
                password=password,
                name=name,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
    except ShopError as exc:
        return _see_other("/register", {**_form_error(exc, default_field="email"), **back})
    if signed_in is None:
        return _see_other("/login", {"notice": "check_email", **back})
    response = _see_other(target)
    set_session_cookie(response, signed_in.session_token)
    # Visitors often sign up on the way to checkout; their cart must come with them.
    merge_at_sign_in(request, response, signed_in.user.id)
    return response


@router.post("/password/form", status_code=status.HTTP_303_SEE_OTHER, response_class=Response)
def change_password_form(
    request: Request,
    user: CurrentUser,
    current_password: Annotated[str, Form(max_length=4096)],
    new_password: Annotated[str, Form(max_length=4096)],
    end_other_sessions: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """For the change-password form on /account. An unticked checkbox is not sent at all, so
    other sessions end only when `end_other_sessions` is present (the page ticks it by
    default). 303 to /account?password=changed&ended=N, or /account?error=CODE&field=FIELD."""
    try:
        with session_scope() as session:
            ended = auth.change_password(
                session=session,
                current=user,
                current_password=current_password,
                new_password=new_password,
                end_other_sessions=end_other_sessions is not None,
                ip=client_ip(request),
            )
        if ended is None:
            raise auth.wrong_current_password()
    except ShopError as exc:
        return _see_other(
            "/account", _form_error(exc, default_field="new_password"), fragment="password"
        )
    return _see_other("/account", {"password": "changed", "ended": ended}, fragment="password")


@router.post(
    "/password-reset/request/form", status_code=status.HTTP_303_SEE_OTHER, response_class=Response
)
def password_reset_request_form(
    request: Request, email: Annotated[str, Form(max_length=320)]
) -> Response:
    """For the form on /forgot-password: 303 to /forgot-password?sent=1 whether or not an
    account uses the address, or back with ?error=invalid_input when it is not an address.
    The answer lives in the URL, so reloading the page keeps saying what happened."""
    try:
        auth.normalize_email(email)
    except ShopError as exc:
        return _see_other("/forgot-password", _form_error(exc, default_field="email"))
    with session_scope() as session:
        auth.request_password_reset(session=session, email=email, ip=client_ip(request))
    return _see_other("/forgot-password", {"sent": 1})


@router.post("/password-reset/form", status_code=status.HTTP_303_SEE_OTHER, response_class=Response)
def password_reset_form(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    new_password: Annotated[str, Form(max_length=4096)],
) -> Response:
    """For the form on /reset-password: 303 to /login?notice=password_reset, or back to
    /reset-password?token=…&error=CODE&field=FIELD (an invalid link says so)."""
    try:
        with session_scope() as session:
            auth.reset_password(
                session=session, token=token, new_password=new_password, ip=client_ip(request)
            )
    except ShopError as exc:
        return _see_other(
            "/reset-password", {"token": token, **_form_error(exc, default_field="new_password")}
        )
    return _see_other("/login", {"notice": "password_reset"})


@router.post("/logout/form", status_code=status.HTTP_303_SEE_OTHER, response_class=Response)
def logout_form(request: Request, user: OptionalUser) -> Response:
    """For a plain HTML "Sign out" form in the header: ends the session, 303 to /."""
    if user is not None:
        with session_scope() as session:
            auth.sign_out(session=session, current=user, ip=client_ip(request))
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    clear_session_cookie(response)
    return response


@router.post("/refresh", response_model=TokensOut)
def refresh(body: RefreshIn, request: Request) -> TokensOut:
    with session_scope() as session:
        outcome = auth.refresh(
            session=session, refresh_token=body.refresh_token, ip=client_ip(request)
        )
    if outcome.tokens is None:
        if outcome.reused:
            raise Unauthorized(
                "This refresh token was already used; the session is ended. Sign in again.",
                code="refresh_token_reused",
            )
        raise Unauthorized("Invalid or expired refresh token.", code="invalid_refresh_token")
    return TokensOut(
        access_token=outcome.tokens.access_token,
        refresh_token=outcome.tokens.refresh_token,
        expires_in=outcome.tokens.expires_in,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    request: Request, user: OptionalUser, body: Annotated[LogoutIn | None, Body()] = None
) -> Response:
    """Ends this session (cookie and tokens), and the session of `refresh_token` when one is
    given (a client whose access token has expired). Always clears the cookie; safe to
    repeat."""
    refresh_token = body.refresh_token if body is not None else None
    if user is not None or refresh_token:
        with session_scope() as session:
            if user is not None:
                auth.sign_out(session=session, current=user, ip=client_ip(request))
            if refresh_token:
                auth.sign_out_refresh_token(
                    session=session, refresh_token=refresh_token, ip=client_ip(request)
                )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response)
    return response


@router.get("/session", response_model=SessionOut)
def current_session(user: CurrentUser) -> SessionOut:
    return SessionOut(user=SessionUser(id=user.id, email=user.email, roles=list(user.roles)))


@router.post("/verify-email", response_model=MessageOut)
def verify_email(body: TokenIn, request: Request) -> MessageOut:
    with session_scope() as session:
        auth.verify_email(session=session, token=body.token, ip=client_ip(request))
    return MessageOut(message="Your email address is confirmed.")


@router.post(
    "/verify-email/resend", status_code=status.HTTP_202_ACCEPTED, response_model=MessageOut
)
def resend_verification(user: CurrentUser) -> MessageOut:
    with session_scope() as session:
        auth.resend_verification(session=session, user_id=user.id)
    return MessageOut(message="If your address is not confirmed yet, a new link is on its way.")


@router.post("/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=MessageOut)
def password_reset_request(body: ResetRequestIn, request: Request) -> MessageOut:
    with session_scope() as session:
        auth.request_password_reset(session=session, email=body.email, ip=client_ip(request))
    return MessageOut(message="If an account uses this address, a reset link is on its way.")


@router.post("/password-reset/confirm", response_model=MessageOut)
def password_reset_confirm(body: ResetConfirmIn, request: Request) -> MessageOut:
    with session_scope() as session:
        auth.reset_password(
            session=session,
            token=body.token,
            new_password=body.new_password,
            ip=client_ip(request),
        )
    return MessageOut(message="Your password is changed. Sign in with the new one.")


@router.post("/password", response_model=PasswordChangeOut)
def change_password(
    body: PasswordChangeIn, request: Request, user: CurrentUser
) -> PasswordChangeOut:
    with session_scope() as session:
        ended = auth.change_password(
            session=session,
            current=user,
            current_password=body.current_password,
            new_password=body.new_password,
            end_other_sessions=body.end_other_sessions,
            ip=client_ip(request),
        )
    if ended is None:
        raise auth.wrong_current_password()
    return PasswordChangeOut(message="Your password is changed.", other_sessions_ended=ended)


@router.get("/me", response_model=ProfileOut)
def read_profile(user: CurrentUser) -> ProfileOut:
    return _profile(user)


@router.put("/me", response_model=ProfileOut)
def update_profile(body: ProfileIn, request: Request, user: CurrentUser) -> ProfileOut:
    with session_scope() as session:
        auth.update_profile(
            session=session, current=user, changes=body.model_dump(include=body.model_fields_set)
        )
        token = bearer_token(request)
        fresh = (
            auth.resolve_access_token(session=session, token=token)
            if token is not None
            else auth.resolve_session_token(
                session=session, token=request.cookies.get(auth.SESSION_COOKIE)
            )
        )
    return _profile(fresh or user)
