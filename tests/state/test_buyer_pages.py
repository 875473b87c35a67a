"""The buyer's own pages check the buyer's permissions on the server, like the API: an account
whose roles were all revoked is refused by every handler and sees none of its data, while a
customer still gets theirs. Anonymous visitors are still sent to sign in."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from shop.models import User
from shop.pages.account_downloads import AccountDownloadsState
from shop.pages.account_orders import AccountOrdersState, AccountOrderState
from shop.pages.checkout import CheckoutState, CheckoutSuccessState
from shop.pages.receipt import ReceiptState
from shop.services import cart as carts
from shop.services import users
from shop.services.auth import SESSION_COOKIE
from tests.download_factories import Purchase, make_purchase
from tests.factories import make_product, make_user, sign_in_as
from tests.state.harness import page_state, run


def _buyer_with_a_purchase(session: Session) -> tuple[User, Purchase, str]:
    buyer = make_user(session, roles=("customer",))
    purchase = make_purchase(session, buyer, product_name="Harbour Field Guide")
    token = sign_in_as(session, buyer).session_token
    session.commit()  # the handlers read in their own transactions
    return buyer, purchase, f"{SESSION_COOKIE}={token}"


def _revoke_every_role(session: Session, user: User) -> None:
    users.revoke_role(session=session, user=user, role="customer")
    session.commit()


def _redirect_path(answer: Any) -> str | None:
    args = {str(name): value for name, value in getattr(answer, "args", ())}
    return args["path"]._var_value if "path" in args else None


def test_account_orders_and_an_order_are_refused_once_the_roles_are_revoked(session: Session):
    # given a customer with a paid order, on their orders page and on the order's page
    buyer, purchase, cookie = _buyer_with_a_purchase(session)
    number = purchase.order.number
    listing = page_state(AccountOrdersState, url="/account/orders", cookie=cookie)
    detail = page_state(AccountOrderState, url=f"/account/orders/{number}", cookie=cookie)
    run(listing.load())
    run(detail.load())
    assert [o["number"] for o in listing.orders] == [number]
    assert detail.order_found
    assert [i["name"] for i in detail.items] == ["Harbour Field Guide"]
    # when an admin revokes their roles and the pages load again
    _revoke_every_role(session, buyer)
    answers = [run(listing.load()), run(detail.load())]
    # then both say "not allowed", stay where they are, and hold none of the orders
    assert answers == [None, None]
    assert (listing.access, listing.refused, detail.refused) == ("forbidden", True, True)
    assert listing.orders == []
    assert (detail.order_found, detail.order, detail.items, detail.taxes) == (False, {}, [], [])


def test_account_downloads_are_refused_once_the_roles_are_revoked(session: Session):
    # given a customer with a downloadable file, on their downloads page
    buyer, purchase, cookie = _buyer_with_a_purchase(session)
    state = page_state(AccountDownloadsState, url="/account/downloads", cookie=cookie)
    run(state.load())
    assert [row["grant_id"] for row in state.rows] == [str(purchase.grant_id)]
    assert run(state.download(str(purchase.grant_id))) is not None  # a link for the browser
    # when their roles are revoked, then loading, refreshing and downloading are all refused
    _revoke_every_role(session, buyer)
    answers = [
        run(state.load()),
        run(state.refresh()),
        run(state.download(str(purchase.grant_id))),
    ]
    assert answers == [None, None, None]
    assert state.refused
    assert state.rows == []


def test_the_receipt_is_refused_once_the_roles_are_revoked(session: Session):
    # given a customer looking at the receipt of their paid order
    buyer, purchase, cookie = _buyer_with_a_purchase(session)
    url = f"/account/orders/{purchase.order.number}/receipt"
    state = page_state(ReceiptState, url=url, cookie=cookie)
    run(state.load())
    assert (state.receipt_status, state.number) == ("ok", purchase.order.number)
    assert state.rows != []
    # when their roles are revoked and the page loads again
    _revoke_every_role(session, buyer)
    assert run(state.load()) is None
    # then it says "not allowed" and keeps no figure of the order
    assert (state.receipt_status, state.refused) == ("forbidden", True)
    assert (state.number, state.customer, state.rows, state.totals) == ("", "", [], [])


def test_the_checkout_success_page_is_refused_once_the_roles_are_revoked(session: Session):
    # given a customer back from paying, on the success page with their download
    buyer, purchase, cookie = _buyer_with_a_purchase(session)
    url = f"/checkout/success?order={purchase.order.number}"
    state = page_state(CheckoutSuccessState, url=url, cookie=cookie)
    run(state.load())
    assert state.outcome == "paid"
    assert [link["name"] for link in state.download_links] == ["Harbour Field Guide"]
    # when their roles are revoked and the page asks again ("Check again" does)
    _revoke_every_role(session, buyer)
    assert run(state.load()) is None
    # then it says "not allowed", with neither the order nor a download link
    assert (state.outcome, state.refused) == ("forbidden", True)
    assert (state.order_number, state.order_items, state.download_links) == ("", [], [])


def test_checkout_is_refused_once_the_roles_are_revoked(session: Session):
    # given a customer at checkout with a product in their cart
    buyer = make_user(session, roles=("customer",))
    product = make_product(session, name="Tide Tables", price_amount=1500)
    assert product.id is not None
    cart = carts.get_or_create_cart(session=session, user_id=buyer.id)
    carts.add_item(session=session, cart=cart, product_id=product.id)
    cookie = f"{SESSION_COOKIE}={sign_in_as(session, buyer).session_token}"
    session.commit()
    state = page_state(CheckoutState, url="/checkout", cookie=cookie)
    run(state.load())
    assert [line["name"] for line in state.lines] == ["Tide Tables"]
    # when their roles are revoked, then loading and choosing a province are refused
    _revoke_every_role(session, buyer)
    assert run(state.load()) is None
    assert state.refused
    assert (state.lines, state.subtotal, state.can_pay) == ([], "", False)
    run(state.choose_region("ON"))
    assert state.problem == "Your account is not allowed to buy."
    assert (state.lines, state.total, state.can_pay) == ([], "", False)


def test_support_staff_still_see_their_own_orders_and_anonymous_visitors_are_sent_to_sign_in(
    session: Session,
):
    # given a support agent who bought something with their own account
    agent = make_user(session, roles=("support",))
    purchase = make_purchase(session, agent)
    cookie = f"{SESSION_COOKIE}={sign_in_as(session, agent).session_token}"
    session.commit()
    # when they open their orders, then they see them
    mine = page_state(AccountOrdersState, url="/account/orders", cookie=cookie)
    assert run(mine.load()) is None
    assert (mine.access, [o["number"] for o in mine.orders]) == ("ok", [purchase.order.number])
    # and a visitor without a session is sent to sign in, not told "not allowed"
    anonymous = page_state(AccountDownloadsState, url="/account/downloads")
    assert _redirect_path(run(anonymous.load())) == "/login?next=/account/downloads"
    assert (anonymous.access, anonymous.refused, anonymous.rows) == ("sign_in", False, [])
