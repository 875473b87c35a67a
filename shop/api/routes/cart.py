"""The cart over HTTP: `GET /api/cart`, `POST /api/cart/items`, `PUT|DELETE /api/cart/items/{id}`.

A signed-in caller uses their account's cart. An anonymous visitor's cart is found by the
random token in the `shop_cart` cookie (HttpOnly, SameSite=Lax: page scripts never see it);
the first write without one makes a token and sets the cookie. At sign-in the routes in
`auth.py` call `merge_at_sign_in`, which moves that cart into the account and drops the cookie.

`POST /api/cart/items/form` is the plain-HTML twin of `POST /api/cart/items` for the product
page's "Add to cart" form: it answers 303 back to a local page, so it works without scripts.
`POST /api/cart/checkout/form` is the cart's "Checkout" button: 303 to /checkout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from shop.api.deps import OptionalUser
from shop.api.params import ProductId, RowId
from shop.db import session_scope
from shop.models import Cart
from shop.services import cart as carts
from shop.services.errors import ShopError
from shop.services.orders import MAX_QUANTITY
from shop.settings import get_settings

router = APIRouter(prefix="/api/cart", tags=["cart"])


class CartItemIn(BaseModel):
    product_id: RowId = Field(strict=True)
    quantity: int = Field(default=1, strict=True, ge=1, le=MAX_QUANTITY)


class QuantityIn(BaseModel):
    quantity: int = Field(strict=True, ge=0, le=MAX_QUANTITY)


class CartLineOut(BaseModel):
    product_id: int
    slug: str
    name: str
    quantity: int
    unit_amount: int
    amount: int
    currency: str
    problem: str | None


class CartOut(BaseModel):
    items: list[CartLineOut]
    item_count: int
    subtotal: int
    currency: str | None
    can_checkout: bool


def _out(view: carts.CartView) -> CartOut:
    return CartOut(
        items=[
            CartLineOut(
                product_id=line.product_id,
                slug=line.slug,
                name=line.name,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                amount=line.amount,
                currency=line.currency,
                problem=line.problem,
            )
            for line in view.lines
        ],
        item_count=view.item_count,
        subtotal=view.subtotal,
        currency=view.currency,
        can_checkout=view.can_checkout,
    )


def set_cart_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        carts.CART_COOKIE,
        token,
        max_age=carts.CART_COOKIE_MAX_AGE,
        path="/",
        secure=get_settings().is_https,
        httponly=True,
        samesite="lax",
    )


def clear_cart_cookie(response: Response) -> None:
    response.delete_cookie(
        carts.CART_COOKIE, path="/", secure=get_settings().is_https, httponly=True, samesite="lax"
    )


def _owner(request: Request, user: OptionalUser) -> tuple[int | None, str | None]:
    if user is not None:
        return user.id, None
    return None, request.cookies.get(carts.CART_COOKIE) or None


Change = Callable[[Session, Cart], object]


def _write(request: Request, response: Response, user: OptionalUser, change: Change) -> CartOut:
    """Run one cart change in its own transaction; anonymous first writes get a cookie."""
    user_id, token = _owner(request, user)
    new_token = None
    if user_id is None and token is None:
        new_token = token = carts.new_cart_token()
    with session_scope() as session:
        cart = carts.get_or_create_cart(session=session, token=token, user_id=user_id)
        change(session, cart)
        view = carts.view_cart(session=session, cart=cart)
    if new_token is not None:
        set_cart_cookie(response, new_token)
    return _out(view)


def _adding(product_id: int, quantity: int) -> Change:
    return lambda session, cart: carts.add_item(
        session=session, cart=cart, product_id=product_id, quantity=quantity
    )


@router.get("", response_model=CartOut)
def read_cart(request: Request, user: OptionalUser) -> CartOut:
    user_id, token = _owner(request, user)
    with session_scope() as session:
        cart = carts.find_cart(session=session, token=token, user_id=user_id)
        return _out(carts.view_cart(session=session, cart=cart))


@router.post("/items", response_model=CartOut)
def add_to_cart(
    body: CartItemIn, request: Request, response: Response, user: OptionalUser
) -> CartOut:
    return _write(request, response, user, _adding(body.product_id, body.quantity))


@router.put("/items/{product_id}", response_model=CartOut)
def change_quantity(
    product_id: ProductId,
    body: QuantityIn,
    request: Request,
    response: Response,
    user: OptionalUser,
) -> CartOut:
    return _write(
        request,
        response,
        user,
        lambda session, cart: carts.set_quantity(
            session=session, cart=cart, product_id=product_id, quantity=body.quantity
        ),
    )


@router.delete("/items/{product_id}", response_model=CartOut)
def remove_from_cart(
    product_id: ProductId, request: Request, response: Response, user: OptionalUser
) -> CartOut:
    return _write(
        request,
        response,
        user,
        lambda session, cart: carts.remove_item(session=session, cart=cart, product_id=product_id),
    )


def _local_path(target: str | None, default: str) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@router.post("/checkout/form", status_code=status.HTTP_303_SEE_OTHER, response_class=Response)
def checkout_form() -> Response:
    """For the cart's "Checkout" button, a full page load (the checkout page's own security
    policy is what allows Stripe.js) to exactly `/checkout`: a GET form would go to
    `/checkout?`, an address that no test or bookmark expects."""
    return RedirectResponse("/checkout", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/items/form", status_code=status.HTTP_303_SEE_OTHER, response_class=Response)
def add_to_cart_form(
    request: Request,
    user: OptionalUser,
    product_id: Annotated[int, Form()],
    quantity: Annotated[int, Form(ge=1, le=MAX_QUANTITY)] = 1,
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """For the product page's form: 303 to `next` (a local path, default /cart); on a refusal,
    back to `next` with `cart_error=<code>`."""
    target = _local_path(next, "/cart")
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    try:
        _write(request, response, user, _adding(product_id, quantity))
    except ShopError as exc:
        separator = "&" if "?" in target else "?"
        return RedirectResponse(
            f"{target}{separator}cart_error={exc.code}", status_code=status.HTTP_303_SEE_OTHER
        )
    return response


def merge_at_sign_in(request: Request, response: Response, user_id: int) -> None:
    """Move the visitor's anonymous cart into the account's cart and drop the cart cookie."""
    token = request.cookies.get(carts.CART_COOKIE)
    if not token:
        return
    with session_scope() as session:
        carts.merge_into_user_cart(session=session, token=token, user_id=user_id)
    clear_cart_cookie(response)
