"""Dependencies shared by the API routes: the database session, who is asking, what they may do.

    from shop.api.deps import CurrentUser, require_permission

    @router.get("/api/orders")
    def my_orders(user: CurrentUser): ...                     # 401 when anonymous

    @router.post("/api/products", dependencies=[Depends(require_permission("catalog:write"))])
    def create_product(...): ...                              # 401 anonymous, 403 wrong role

    def refund(user: Annotated[AuthUser, Depends(require_permission("refunds:create"))]): ...

    @router.get("/api/orders/{id}")                           # own orders, or every order
    def order(user: Annotated[AuthUser, Depends(require_any_permission(OWN, ALL))]): ...

A bearer token (`Authorization: Bearer <access_token>`) or the `shop_session` cookie
authenticates; when a bearer header is present the cookie is not looked at. The user, their
session and their roles are read from the database on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from shop.db import session_scope
from shop.services import auth
from shop.services.auth import CurrentUser as AuthUser
from shop.services.auth import Forbidden, Unauthorized
from shop.services.errors import ShopError

_STATE_KEY = "shop_current_user"


class RateLimited(ShopError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: int):
        super().__init__(f"Too many requests. Try again in {retry_after} s.")
        self.retry_after = retry_after


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def get_optional_user(request: Request) -> AuthUser | None:
    """The signed-in user, or None; resolved once per request."""
    if hasattr(request.state, _STATE_KEY):
        return getattr(request.state, _STATE_KEY)
    token = bearer_token(request)
    with session_scope() as session:
        if token is not None:
            user = auth.resolve_access_token(session=session, token=token)
        else:
            user = auth.resolve_session_token(
                session=session, token=request.cookies.get(auth.SESSION_COOKIE)
            )
    if user is not None:
        limiter = getattr(request.app.state, "rate_limiter", None)
        if limiter is not None:
            verdict = limiter.check_user(user.id)
            if not verdict.allowed:
                raise RateLimited(verdict.retry_after)
    setattr(request.state, _STATE_KEY, user)
    return user


OptionalUser = Annotated[AuthUser | None, Depends(get_optional_user)]


def get_current_user(user: OptionalUser) -> AuthUser:
    if user is None:
        raise Unauthorized("Sign in to do this.")
    return user


CurrentUser = Annotated[AuthUser, Depends(get_current_user)]


def require_permission(*permissions: str) -> Callable[[AuthUser], AuthUser]:
    """A dependency that lets through only users holding every one of `permissions`."""

    def dependency(user: CurrentUser) -> AuthUser:
        missing = [p for p in permissions if not user.can(p)]
        if missing:
            raise Forbidden("You do not have permission to do this.")
        return user

    dependency.required_permissions = frozenset(permissions)  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{'_'.join(p.replace(':', '_') for p in permissions)}"
    return dependency


def require_any_permission(*permissions: str) -> Callable[[AuthUser], AuthUser]:
    """A dependency that lets through users holding at least one of `permissions`: for
    endpoints that serve a customer's own objects and staff everyone's."""

    def dependency(user: CurrentUser) -> AuthUser:
        if not any(user.can(p) for p in permissions):
            raise Forbidden("You do not have permission to do this.")
        return user

    dependency.any_of_permissions = frozenset(permissions)  # type: ignore[attr-defined]
    dependency.__name__ = f"require_any_{'_or_'.join(p.replace(':', '_') for p in permissions)}"
    return dependency
