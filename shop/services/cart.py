"""Carts: add, change, remove; anonymous carts by an opaque token, user carts by account.

An anonymous visitor's cart is found by the SHA-256 of the token in their (HttpOnly) cart
cookie; the token itself is never stored. At sign-in `merge_into_user_cart` moves the
anonymous cart's lines into the account's cart (quantities add up) and deletes it.

A cart holds no prices: `view_cart` reads them from the catalog every time and says which
lines cannot be bought as they are (retired, sold out, fewer left than wanted), so nothing is
charged that the customer has not seen.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shop.models import Cart, CartItem, Product, ProductKind, utcnow
from shop.services import ids
from shop.services.errors import Conflict, InvalidInput, NotFound
from shop.services.orders import MAX_LINES, MAX_QUANTITY, LineRequest

TOKEN_BYTES = 32
# The anonymous cart's HttpOnly, SameSite=Lax cookie (set only by the REST API's answers).
CART_COOKIE = "shop_cart"
CART_COOKIE_MAX_AGE = 60 * 60 * 24 * 30


def new_cart_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_cart_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_from_cookie_header(cookie_header: str | None) -> str | None:
    """The cart token from a raw Cookie header (for the Reflex UI's websocket handshake)."""
    from starlette.requests import cookie_parser

    if not cookie_header:
        return None
    return cookie_parser(cookie_header).get(CART_COOKIE) or None


@dataclass(frozen=True, slots=True)
class CartLine:
    product_id: int
    slug: str
    name: str
    quantity: int
    unit_amount: int
    amount: int
    currency: str
    problem: str | None  # why this line cannot be bought as it is, for the customer


@dataclass(frozen=True, slots=True)
class CartView:
    cart_id: int | None
    lines: list[CartLine]
    item_count: int
    subtotal: int
    currency: str | None
    can_checkout: bool

    def line_requests(self) -> list[LineRequest]:
        return [LineRequest(line.product_id, line.quantity) for line in self.lines]


def checkout_problem(*, view: CartView, country: str, region: str | None) -> str | None:
    """What stops this cart being priced for checkout, for the customer; None when it can be.

    Checked in this order: an empty cart, a line that cannot be bought as it is (see
    `view_cart`), then a Canadian billing address without its province (the taxes need it).
    """
    if not view.lines:
        return "Your cart is empty."
    if not view.can_checkout:
        return "Your cart has changed; review it before paying."
    if country == "CA" and not region:
        return "Choose your province to see the taxes."
    return None


def find_cart(
    *, session: Session, token: str | None = None, user_id: int | None = None
) -> Cart | None:
    if user_id is not None:
        return session.exec(select(Cart).where(Cart.user_id == user_id)).first()
    if token:
        return session.exec(select(Cart).where(Cart.token_hash == hash_cart_token(token))).first()
    return None


def get_or_create_cart(
    *, session: Session, token: str | None = None, user_id: int | None = None
) -> Cart:
    """The user's cart, or the anonymous cart of `token` (a new token makes a new cart)."""
    if user_id is None and not token:
        raise InvalidInput("A cart needs a user or a cart token.")
    cart = find_cart(session=session, token=token, user_id=user_id)
    if cart is not None:
        return cart
    cart = Cart(
        user_id=user_id, token_hash=None if user_id is not None else hash_cart_token(token or "")
    )
    try:
        session.add(cart)
        session.flush()
    except IntegrityError as exc:  # made by a parallel request a moment ago
        raise Conflict("The cart was just created; try again.") from exc
    return cart


def _check_product(session: Session, product_id: int) -> Product:
    product = ids.get_row(session, Product, product_id)
    if product is None or not product.is_active:
        raise NotFound(f"No product {product_id} for sale.")
    if product.kind != ProductKind.ONE_TIME.value:
        raise InvalidInput(
            f"{product.name} is a subscription; subscriptions are not on sale online yet."
        )
    return product


def add_item(*, session: Session, cart: Cart, product_id: int, quantity: int = 1) -> CartItem:
    """Add `quantity` of a product (adds to what is already there)."""
    if quantity < 1:
        raise InvalidInput("The quantity must be at least 1.", field="quantity")
    _check_product(session, product_id)
    present = session.exec(
        select(CartItem.id).where(CartItem.cart_id == cart.id, CartItem.product_id == product_id)
    ).first()
    if present is None:
        count = len(session.exec(select(CartItem.id).where(CartItem.cart_id == cart.id)).all())
        if count >= MAX_LINES:
            raise InvalidInput(f"A cart holds at most {MAX_LINES} products.")
    # One statement adds to the line or makes it, so adds sent at once (two tabs, a double
    # click) are all counted, not read-then-written over each other.
    table = CartItem.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    added = table.c.quantity + quantity
    item_id = session.execute(
        insert(table)
        .values(
            cart_id=cart.id,
            product_id=product_id,
            quantity=min(quantity, MAX_QUANTITY),
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["cart_id", "product_id"],
            set_={
                "quantity": case((added > MAX_QUANTITY, MAX_QUANTITY), else_=added),
                "updated_at": now,
            },
        )
        .returning(table.c.id)
    ).scalar_one()
    item = session.get(CartItem, item_id, populate_existing=True)
    assert item is not None
    return item


def set_quantity(
    *, session: Session, cart: Cart, product_id: int, quantity: int
) -> CartItem | None:
    """Set a line's quantity; 0 removes it."""
    if quantity < 0 or quantity > MAX_QUANTITY:
        raise InvalidInput(f"The quantity must be between 0 and {MAX_QUANTITY}.", field="quantity")
    if quantity == 0:
        remove_item(session=session, cart=cart, product_id=product_id)
        return None
    item = session.exec(
        select(CartItem).where(CartItem.cart_id == cart.id, CartItem.product_id == product_id)
    ).first()
    if item is None:
        raise NotFound(f"Product {product_id} is not in the cart.")
    item.quantity = quantity
    item.updated_at = utcnow()
    session.add(item)
    session.flush()
    return item


def remove_item(*, session: Session, cart: Cart, product_id: int) -> None:
    session.execute(
        delete(CartItem).where(
            col(CartItem.cart_id) == cart.id, col(CartItem.product_id) == product_id
        )
    )


def clear(*, session: Session, cart: Cart) -> None:
    session.execute(delete(CartItem).where(col(CartItem.cart_id) == cart.id))


def merge_into_user_cart(*, session: Session, token: str | None, user_id: int) -> Cart:
    """At sign-in: the anonymous cart's lines join the user's cart, then it is deleted."""
    user_cart = get_or_create_cart(session=session, user_id=user_id)
    anonymous = find_cart(session=session, token=token) if token else None
    if anonymous is None or anonymous.id == user_cart.id:
        return user_cart
    items = session.exec(select(CartItem).where(CartItem.cart_id == anonymous.id)).all()
    for item in items:
        existing = session.exec(
            select(CartItem).where(
                CartItem.cart_id == user_cart.id, CartItem.product_id == item.product_id
            )
        ).first()
        if existing is not None:
            existing.quantity = min(existing.quantity + item.quantity, MAX_QUANTITY)
            session.add(existing)
        else:
            session.add(
                CartItem(cart_id=user_cart.id, product_id=item.product_id, quantity=item.quantity)  # type: ignore[arg-type]
            )
    session.flush()
    session.execute(delete(CartItem).where(col(CartItem.cart_id) == anonymous.id))
    session.delete(anonymous)
    session.flush()
    return user_cart


def view_cart(*, session: Session, cart: Cart | None) -> CartView:
    """The cart at today's catalog prices, with what stands in the way of checkout."""
    if cart is None:
        return CartView(None, [], 0, 0, None, False)
    rows = session.exec(
        select(CartItem, Product)
        .join(Product, col(Product.id) == CartItem.product_id)
        .where(CartItem.cart_id == cart.id)
        .order_by(col(CartItem.id))
    ).all()
    lines = []
    for item, product in rows:
        problem = None
        if not product.is_active:
            problem = f"{product.name} is no longer available."
        elif product.inventory_count is not None and product.inventory_count == 0:
            problem = f"{product.name} is sold out."
        elif product.inventory_count is not None and product.inventory_count < item.quantity:
            problem = f"Only {product.inventory_count} of {product.name} left."
        lines.append(
            CartLine(
                product_id=product.id,  # type: ignore[arg-type]
                slug=product.slug,
                name=product.name,
                quantity=item.quantity,
                unit_amount=product.price_amount,
                amount=product.price_amount * item.quantity,
                currency=product.currency,
                problem=problem,
            )
        )
    currencies = {line.currency for line in lines}
    return CartView(
        cart_id=cart.id,
        lines=lines,
        item_count=sum(line.quantity for line in lines),
        subtotal=sum(line.amount for line in lines if line.problem is None),
        currency=currencies.pop() if len(currencies) == 1 else None,
        can_checkout=bool(lines) and all(line.problem is None for line in lines),
    )
