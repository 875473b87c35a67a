"""The checkout's choices (province, promo code) belong to one account and one order: a paid
order's code is not carried into the next checkout, and a tab signed in as someone else starts
afresh. The success page says so when a paid order was refunded since."""

from __future__ import annotations

from reflex.istate.data import RouterData
from sqlmodel import Session, select

from shop.models import User
from shop.pages.checkout import CheckoutState, CheckoutSuccessState
from shop.services import cart as carts
from shop.services import promo_codes, refunds
from shop.services.auth import SESSION_COOKIE
from shop.services.stripe_api import RefundInfo
from tests.download_factories import make_purchase
from tests.factories import make_product, make_user, sign_in_as
from tests.state.harness import page_state, run


def _cookie(session: Session, user) -> str:  # type: ignore[no-untyped-def]
    return f"{SESSION_COOKIE}={sign_in_as(session, user).session_token}"


def _as(state, cookie: str, url: str) -> None:  # type: ignore[no-untyped-def]
    state.router = RouterData.from_router_data(
        {
            "headers": {"origin": "http://shop.test", "cookie": cookie},
            "pathname": url,
            "asPath": url,
        }
    )


def _checkout_with_code(session: Session, email: str) -> tuple[CheckoutState, str]:
    buyer = make_user(session, email=email, roles=("customer",))
    product = make_product(session, price_amount=2000)
    cart = carts.get_or_create_cart(session=session, user_id=buyer.id)
    carts.add_item(session=session, cart=cart, product_id=product.id)  # type: ignore[arg-type]
    cookie = _cookie(session, buyer)
    session.commit()
    state = page_state(CheckoutState, url="/checkout", cookie=cookie)
    run(state.load())
    run(state.choose_region("QC"))
    state.set_promo_input("save10")
    run(state.apply_promo())
    assert (state.region, state.promo_code) == ("QC", "SAVE10"), state.promo_message
    return state, cookie


def test_another_account_in_the_same_tab_finds_neither_province_nor_code(session: Session):
    # given a customer who chose Quebec and applied a code, then signed out
    promo_codes.create_promo_code(session=session, code="SAVE10", percent_off=10)
    state, _ = _checkout_with_code(session, "first@example.com")
    # when someone else signs in in that tab and opens the checkout
    other = make_user(session, email="second@example.com", roles=("customer",))
    cookie = _cookie(session, other)
    session.commit()
    _as(state, cookie, "/checkout")
    run(state.load())
    # then their checkout starts afresh
    assert (state.country, state.region) == ("CA", "")
    assert (state.promo_input, state.promo_code, state.promo_message) == ("", "", "")


def test_the_same_account_keeps_its_province_when_it_comes_back(session: Session):
    promo_codes.create_promo_code(session=session, code="SAVE10", percent_off=10)
    state, _ = _checkout_with_code(session, "back@example.com")
    run(state.load())
    assert (state.region, state.promo_code) == ("QC", "SAVE10")


def test_a_paid_order_takes_its_promo_code_with_it(session: Session):
    # given a customer whose checkout holds a code, and an order of theirs that is paid
    promo_codes.create_promo_code(session=session, code="SAVE10", percent_off=10)
    checkout, cookie = _checkout_with_code(session, "payer@example.com")
    buyer = session.exec(select(User).where(User.email == "payer@example.com")).one()
    purchase = make_purchase(session, buyer)
    session.commit()
    # when the success page of that order loads in the same tab
    success = run(checkout.get_state(CheckoutSuccessState))
    _as(success, cookie, f"/checkout/success?order={purchase.order.number}")
    run(success.load())
    # then the next checkout starts without the code, but keeps the province
    assert success.outcome == "paid"
    assert (checkout.promo_input, checkout.promo_code) == ("", "")
    assert checkout.region == "QC"


def test_the_success_page_of_a_refunded_order_says_so(session: Session):
    # given a paid order, refunded in full since
    buyer = make_user(session, roles=("customer",))
    purchase = make_purchase(session, buyer)
    order = purchase.order
    refunds.record_refund(
        session=session,
        refund=RefundInfo(
            id="re_test_1",
            status="succeeded",
            amount=order.total_amount,
            currency=order.currency,
            payment_intent_id=order.stripe_payment_intent_id,
            charge_id=None,
            reason=None,
            metadata={"order_id": str(order.id)},
            created=1_790_000_000,
        ),
    )
    cookie = _cookie(session, buyer)
    session.commit()
    # when its buyer opens its success page
    state = page_state(
        CheckoutSuccessState, url=f"/checkout/success?order={order.number}", cookie=cookie
    )
    run(state.load())
    # then it says the order was refunded, instead of "is paid"
    assert state.refund_note.startswith(
        f"Your order {order.number} was paid, then refunded in full"
    )
