"""/admin/orders/[number]: staff see the order's money as the customer's receipt shows it,
subtotal, discount with its code, each tax line with its rate and jurisdiction, and total."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from shop.models import Order, utcnow
from shop.pages.account_orders import AccountOrderState
from shop.pages.admin_orders import AdminOrderState
from shop.services.auth import SESSION_COOKIE
from tests.factories import make_order, make_product, make_user, sign_in_as
from tests.state.harness import page_state, run


def _cookie(session: Session, user) -> str:
    return f"{SESSION_COOKIE}={sign_in_as(session, user).session_token}"


def _discounted_order_in_british_columbia(session: Session, buyer) -> Order:
    """$24.00 less a $2.00 code, then GST 5 % and PST 7 % of $22.00: $1.10 + $1.54."""
    sketchbook = make_product(session, name="Harbour Sketchbook")
    return make_order(
        session,
        user=buyer,
        paid_at=utcnow() - timedelta(hours=1),
        items=[(sketchbook, 2, 1200)],
        discount=200,
        promo_code="SAVE2",
        taxes=(("GST", "CA", "0.05", 110), ("PST", "CA-BC", "0.07", 154)),
    )


def test_staff_see_subtotal_discount_each_tax_line_and_total(session: Session):
    # given a paid order with a promo code, GST and PST, and a support agent
    buyer = make_user(session, roles=("customer",))
    order = _discounted_order_in_british_columbia(session, buyer)
    support = make_user(session, roles=("support",))
    cookie = _cookie(session, support)
    session.commit()

    # when support opens the order
    state = page_state(AdminOrderState, url=f"/admin/orders/{order.number}", cookie=cookie)
    run(state.load())

    # then the discount names its code, each tax has its own line, and they add up to the total
    assert state.found
    shown = {key: state.order[key] for key in ("subtotal", "discount_label", "discount", "total")}
    assert shown == {
        "subtotal": "$24.00 CAD",
        "discount_label": "Discount (SAVE2)",
        "discount": "-$2.00 CAD",
        "total": "$24.64 CAD",
    }
    assert state.taxes == [
        {"label": "GST 5% (CA)", "amount": "$1.10 CAD"},
        {"label": "PST 7% (CA-BC)", "amount": "$1.54 CAD"},
    ]

    # and the customer's own order page names the taxes the same way
    mine = page_state(
        AccountOrderState, url=f"/account/orders/{order.number}", cookie=_cookie(session, buyer)
    )
    session.commit()
    run(mine.load())
    assert mine.taxes == state.taxes


def test_an_order_without_discount_or_tax_shows_neither(session: Session):
    # given an order from abroad: no promo code, no Canadian tax
    presets = make_product(session, name="Aurora Presets")
    order = make_order(session, paid_at=utcnow(), items=[(presets, 1, 4000)])
    cookie = _cookie(session, make_user(session, roles=("support",)))
    session.commit()

    # when support opens it
    state = page_state(AdminOrderState, url=f"/admin/orders/{order.number}", cookie=cookie)
    run(state.load())

    # then there is no discount and no tax line, and the total is the subtotal
    assert (state.order["discount"], state.taxes) == ("", [])
    assert (state.order["tax"], state.order["total"]) == ("$0.00 CAD", "$40.00 CAD")


def test_the_heading_names_the_order_and_never_says_undefined(session: Session):
    # given a paid order, an admin, a customer, and a visitor without a session
    order = make_order(session, paid_at=utcnow(), items=[(make_product(session), 1, 1000)])
    admin = _cookie(session, make_user(session, roles=("admin",)))
    customer = _cookie(session, make_user(session, roles=("customer",)))
    session.commit()

    def heading(url: str, cookie: str = "") -> str:
        state = page_state(AdminOrderState, url=url, cookie=cookie)
        run(state.load())
        return state.heading

    # when each opens the order's page, or the admin an order that does not exist
    # then the heading is the order's number, "Order not found", or plain "Order"
    assert heading(f"/admin/orders/{order.number}", admin) == f"Order {order.number}"
    assert heading("/admin/orders/ORD-NOPE-NOPE", admin) == "Order not found"
    assert heading(f"/admin/orders/{order.number}", customer) == "Order"
    assert heading(f"/admin/orders/{order.number}") == "Order"


def test_the_customer_sees_what_was_refunded_on_their_order_page(session: Session):
    # given a paid order of which $5.00 was refunded
    from shop.models import Refund

    buyer = make_user(session, roles=("customer",))
    order = _discounted_order_in_british_columbia(session, buyer)
    order.status = "partially_refunded"
    session.add(order)
    session.add(
        Refund(
            order_id=order.id,  # type: ignore[arg-type]
            stripe_refund_id="re_test_partial",
            amount=500,
            currency="cad",
            status="succeeded",
        )
    )
    session.commit()
    # when the buyer opens it
    mine = page_state(
        AccountOrderState, url=f"/account/orders/{order.number}", cookie=_cookie(session, buyer)
    )
    session.commit()
    run(mine.load())
    # then the page says how much came back, beside the total
    assert (mine.order["total"], mine.order["refunded"]) == ("$24.64 CAD", "$5.00 CAD")


def test_an_order_nothing_was_refunded_of_says_nothing_about_refunds(session: Session):
    buyer = make_user(session, roles=("customer",))
    order = _discounted_order_in_british_columbia(session, buyer)
    session.commit()
    mine = page_state(
        AccountOrderState, url=f"/account/orders/{order.number}", cookie=_cookie(session, buyer)
    )
    session.commit()
    run(mine.load())
    assert mine.order["refunded"] == ""
