"""The /admin overview's revenue figures: the owner's last 30 days, and nothing for support."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from shop.models import utcnow
from shop.pages.admin_home import AdminHomeState
from shop.services.auth import SESSION_COOKIE
from tests.factories import make_order, make_product, make_refund, make_user, sign_in_as
from tests.state.harness import page_state, run


def _overview_for(session: Session, role: str) -> AdminHomeState:
    user = make_user(session, roles=(role,))
    token = sign_in_as(session, user).session_token
    session.commit()
    state = page_state(AdminHomeState, url="/admin", cookie=f"{SESSION_COOKIE}={token}")
    run(state.load())
    return state


def _sales(session: Session) -> None:
    """CAD: 3 orders this week, one partly refunded; a bigger USD order does not count in CAD
    totals, nor a CAD order from 40 days ago."""
    now = utcnow()
    sketchbook = make_product(session, name="Harbour Sketchbook")
    presets = make_product(session, name="Aurora Presets")
    first = make_order(
        session,
        paid_at=now - timedelta(days=2),
        items=[(sketchbook, 2, 1500)],
        taxes=(("HST", "ON", "0.13", 390),),
    )
    make_order(session, paid_at=now - timedelta(days=2), items=[(presets, 1, 4000)])
    make_order(session, paid_at=now, items=[(presets, 1, 4000)])
    make_refund(session, first, amount=1000, at=now)
    make_order(session, paid_at=now, items=[(presets, 1, 2500)], currency="usd")
    make_order(session, paid_at=now - timedelta(days=40), items=[(presets, 1, 99900)])
    session.commit()


def test_the_owner_sees_the_last_30_days_in_the_main_currency(session: Session):
    # given sales in CAD and USD
    _sales(session)
    # when an admin opens /admin
    state = _overview_for(session, "admin")
    # then the CAD figures of the last 30 days are shown
    assert state.allowed
    assert state.show_figures
    assert state.has_sales
    figures = state.figures
    assert {k: figures[k] for k in ("currency", "net", "orders", "average", "refunds", "tax")} == {
        "currency": "CAD",
        "net": "$103.90 CAD",
        "orders": "3",
        "average": "$37.97 CAD",
        "refunds": "$10.00 CAD",
        # the tax kept: 390 charged, less the refund's share 1000 × 390 ÷ 3390 = 115
        "tax": "$2.75 CAD",
    }
    assert figures["tax_detail"] == "$3.90 CAD charged − $1.15 CAD refunded"
    # and the USD sale is named on its own line, never added to CAD
    assert figures["other_currencies"] == (
        "Also in other currencies, not counted above: USD gross $25.00 USD, net $25.00 USD"
    )
    # and one bar per day, today's and two days ago labelled with what sold
    assert len(state.bars) == 30
    today, two_days_ago = utcnow().date(), utcnow().date() - timedelta(days=2)
    assert state.bars[-1] == {
        "label": f"{today}: $40.00 CAD, 1 order, $10.00 CAD refunded",
        "height": "54%",
    }
    assert state.bars[-3] == {"label": f"{two_days_ago}: $73.90 CAD, 2 orders", "height": "100%"}
    assert {bar["height"] for bar in state.bars[:-3]} == {"0%"}
    # and the top products by revenue in CAD
    assert state.top_products == [
        {"name": "Aurora Presets", "units": "2", "revenue": "$80.00 CAD"},
        {"name": "Harbour Sketchbook", "units": "2", "revenue": "$30.00 CAD"},
    ]


def test_support_gets_the_overview_without_any_figure(session: Session):
    # given sales
    _sales(session)
    # when support opens /admin
    state = _overview_for(session, "support")
    # then the page is allowed (the section cards) but no figure reached the browser
    assert state.allowed
    assert not state.show_figures
    assert (state.figures, state.bars, state.top_products) == ({}, [], [])


def test_an_empty_shop_shows_zeros_in_cad_and_no_chart(session: Session):
    # given no sales
    # when an admin opens /admin
    state = _overview_for(session, "admin")
    # then the figures are zero CAD and the page says there were no sales
    assert state.show_figures
    assert not state.has_sales
    assert (state.figures["currency"], state.figures["net"], state.figures["orders"]) == (
        "CAD",
        "$0.00 CAD",
        "0",
    )
    assert state.top_products == []
    assert state.figures["other_currencies"] == ""


def test_the_main_currency_is_the_one_with_most_revenue(session: Session):
    # given a shop that sold more in USD than in CAD this month
    product = make_product(session, name="Aurora Presets")
    make_order(session, paid_at=utcnow(), items=[(product, 1, 1000)])
    make_order(session, paid_at=utcnow(), items=[(product, 3, 1000)], currency="usd")
    session.commit()
    # when an admin opens /admin
    state = _overview_for(session, "admin")
    # then the figures are the USD ones
    assert (state.figures["currency"], state.figures["net"], state.figures["orders"]) == (
        "USD",
        "$30.00 USD",
        "1",
    )
    # and the CAD sale is named under them
    assert state.figures["other_currencies"] == (
        "Also in other currencies, not counted above: CAD gross $10.00 CAD, net $10.00 CAD"
    )
