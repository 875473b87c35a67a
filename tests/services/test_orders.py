"""Placing orders: catalog prices, tax lines stored with the order, totals that add up."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from shop.models import OrderItem, OrderTaxLine
from shop.services import auth, orders, payments
from shop.services.errors import Conflict, InvalidInput
from shop.services.tax import TaxRegistrations, demo_registrations
from shop.settings import get_settings
from tests.factories import make_product

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _buyer(session: Session) -> int:
    user = auth.create_user(session=session, email="buyer@example.com", password=None)
    assert user.id is not None
    return user.id


def _place(
    session: Session,
    buyer: int,
    items: list[tuple[int, int]],
    country: str = "CA",
    region: str | None = "ON",
):
    return orders.place_order(
        session=session,
        buyer_id=buyer,
        items=[orders.LineRequest(pid, q) for pid, q in items],
        billing=orders.Billing(country=country, region=region),
        now=NOW,
    )


def _tax_lines(session: Session, order_id: int) -> list[tuple[str, str, str, int, str | None]]:
    rows = session.exec(
        select(OrderTaxLine)
        .where(OrderTaxLine.order_id == order_id)
        .order_by(OrderTaxLine.position)  # type: ignore[arg-type]
    ).all()
    return [(r.name, r.jurisdiction, r.rate, r.amount, r.registration_number) for r in rows]


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("ON", [("HST", "CA-ON", "0.13", 130)]),
        ("QC", [("GST", "CA", "0.05", 50), ("QST", "CA-QC", "0.09975", 100)]),
        ("BC", [("GST", "CA", "0.05", 50), ("PST", "CA-BC", "0.07", 70)]),
        ("AB", [("GST", "CA", "0.05", 50)]),
        ("NS", [("HST", "CA-NS", "0.14", 140)]),
    ],
)
def test_tax_lines_are_stored_with_the_order_and_the_totals_add_up(
    session: Session, region: str, expected: list[tuple[str, str, str, int]]
):
    # given a $10.00 product and a buyer in a province
    buyer = _buyer(session)
    product = make_product(session, price_amount=1000)

    # when the order is placed
    order = _place(session, buyer, [(product.id, 1)], region=region)  # type: ignore[list-item]

    # then its tax lines are stored, with the demo registration numbers, and totals add up
    stored = _tax_lines(session, order.id)  # type: ignore[arg-type]
    assert [line[:4] for line in stored] == expected
    assert all(line[4] for line in stored)
    assert order.tax_amount == sum(line[3] for line in stored)
    assert order.total_amount == order.subtotal_amount - order.discount_amount + order.tax_amount
    assert order.status == "pending"
    assert order.number is not None
    assert order.number.startswith("ORD-")


def test_a_us_buyer_pays_no_canadian_tax(session: Session):
    # given a buyer in the United States
    buyer = _buyer(session)
    product = make_product(session, price_amount=1000)

    # when they order
    order = _place(session, buyer, [(product.id, 2)], country="US", region="NY")  # type: ignore[list-item]

    # then no tax is charged
    assert order.tax_amount == 0
    assert order.total_amount == 2000
    assert _tax_lines(session, order.id) == []  # type: ignore[arg-type]


def test_prices_come_from_the_catalog_and_exempt_lines_are_not_taxed(session: Session):
    # given a taxable and a tax-exempt product
    buyer = _buyer(session)
    taxable = make_product(session, price_amount=1999)
    exempt = make_product(session, price_amount=500, is_tax_exempt=True)

    # when ordered together (the same product twice counts as one line)
    order = _place(session, buyer, [(taxable.id, 1), (exempt.id, 1), (taxable.id, 1)])  # type: ignore[list-item]

    # then the lines carry catalog prices and only the taxable one is taxed
    items = session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all()
    assert sorted((i.product_id, i.quantity, i.price_at_time) for i in items) == sorted(
        [(taxable.id, 2, 1999), (exempt.id, 1, 500)]
    )
    assert order.subtotal_amount == 4498
    assert order.tax_amount == 520  # 13 % of 39.98 = 5.1974


def test_registrations_from_settings_decide_which_taxes_are_collected(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    # given a merchant registered for GST/HST only
    monkeypatch.setenv("GST_HST_NUMBER", "987654321 RT0001")
    get_settings.cache_clear()
    buyer = _buyer(session)
    product = make_product(session, price_amount=1000)

    # when a Quebec buyer orders
    order = _place(session, buyer, [(product.id, 1)], region="QC")  # type: ignore[list-item]

    # then GST is charged under that number and QST is not
    assert _tax_lines(session, order.id) == [("GST", "CA", "0.05", 50, "987654321 RT0001")]  # type: ignore[arg-type]


def test_without_registrations_only_production_collects_nothing(monkeypatch: pytest.MonkeyPatch):
    # given no registration numbers
    for name in ("GST_HST_NUMBER", "QST_NUMBER", "BC_PST_NUMBER", "SK_PST_NUMBER", "MB_RST_NUMBER"):
        monkeypatch.delenv(name, raising=False)

    # when / then: development uses the demo numbers, production none
    monkeypatch.setenv("SHOP_ENV", "development")
    get_settings.cache_clear()
    assert orders.merchant_tax_registrations() == demo_registrations()
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    get_settings.cache_clear()
    assert orders.merchant_tax_registrations() == TaxRegistrations()
    get_settings.cache_clear()


def test_orders_refuse_what_cannot_be_sold(session: Session):
    # given a retired product, one with 1 left, a subscription and a buyer
    buyer = _buyer(session)
    retired = make_product(session, is_active=False)
    last_one = make_product(session, inventory_count=1)
    plan = make_product(session, kind="subscription", interval="month")

    # when / then
    with pytest.raises(Conflict, match="no longer available"):
        _place(session, buyer, [(retired.id, 1)])  # type: ignore[list-item]
    with pytest.raises(Conflict, match="Only 1 of"):
        _place(session, buyer, [(last_one.id, 2)])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="subscription"):
        _place(session, buyer, [(plan.id, 1)])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="province"):
        _place(session, buyer, [(last_one.id, 1)], region=None)  # type: ignore[list-item]
    with pytest.raises(InvalidInput):
        _place(session, buyer, [])


def test_stored_rates_are_exact_decimals(session: Session):
    # given a Quebec order
    buyer = _buyer(session)
    product = make_product(session, price_amount=1000)
    order = _place(session, buyer, [(product.id, 1)], region="QC")  # type: ignore[list-item]

    # when the QST line is read back
    qst = session.exec(
        select(OrderTaxLine).where(OrderTaxLine.order_id == order.id, OrderTaxLine.name == "QST")
    ).one()

    # then its rate is the exact fraction
    assert Decimal(qst.rate) == Decimal("0.09975")


def test_a_canceled_order_says_why_in_customer_words_and_a_release_reason_wins(
    session: Session,
):
    # given two unpaid orders, one whose last card attempt was declined
    buyer = _buyer(session)
    product = make_product(session, price_amount=1000)
    assert product.id is not None
    first = _place(session, buyer, [(product.id, 1)])
    second = _place(session, buyer, [(product.id, 1)])
    assert first.id is not None
    assert second.id is not None
    first.payment_error = "Your card was declined."
    session.add(first)
    session.flush()

    # when Stripe cancels both, and the shop then closes the second with its own reason
    payments.mark_canceled(session=session, order_id=first.id)
    payments.mark_canceled(session=session, order_id=second.id)
    payments.mark_canceled(session=session, order_id=second.id, reason="Gave way.")
    payments.mark_canceled(session=session, order_id=second.id)
    session.refresh(first)
    session.refresh(second)

    # then the first says it was canceled, not declined, and the second keeps the shop's reason
    assert (first.status, first.payment_error) == ("canceled", payments.CANCELED_MESSAGE)
    assert (second.status, second.payment_error) == ("canceled", "Gave way.")
