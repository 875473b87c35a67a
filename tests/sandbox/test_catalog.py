"""Customers, products, prices, coupons and promotion codes."""

from __future__ import annotations

import time
import uuid

import pytest
import stripe


def test_customer_crud(client: stripe.StripeClient) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    cus = client.v1.customers.create(
        params={"email": email, "name": "Ada", "address": {"country": "CA", "postal_code": "H0H"}}
    )
    assert cus.id.startswith("cus_")
    assert cus.address.country == "CA"
    cus = client.v1.customers.update(cus.id, params={"name": "Ada L."})
    assert cus.name == "Ada L."
    assert cus.email == email
    assert [c.id for c in client.v1.customers.list(params={"email": email}).data] == [cus.id]
    gone = client.v1.customers.delete(cus.id)
    assert gone.deleted is True
    again = client.v1.customers.retrieve(cus.id)
    assert again.to_dict().get("deleted") is True
    assert client.v1.customers.list(params={"email": email}).data == []


def test_products_and_prices(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(
        params={"name": "E-book", "default_price_data": {"currency": "cad", "unit_amount": 1500}}
    )
    assert prod.default_price
    assert prod.active is True
    one_time = client.v1.prices.retrieve(prod.default_price)  # type: ignore[arg-type]
    assert one_time.type == "one_time"
    assert one_time.unit_amount == 1500
    assert one_time.product == prod.id
    monthly = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "cad",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
            "lookup_key": f"m-{uuid.uuid4().hex}",
        }
    )
    assert monthly.type == "recurring"
    assert monthly.recurring.interval == "month"
    assert monthly.recurring.interval_count == 1
    listed = client.v1.prices.list(params={"product": prod.id, "type": "recurring"})
    assert [p.id for p in listed.data] == [monthly.id]
    by_key = client.v1.prices.list(params={"lookup_keys": [monthly.lookup_key]})  # type: ignore[list-item]
    assert [p.id for p in by_key.data] == [monthly.id]
    archived = client.v1.prices.update(monthly.id, params={"active": False})
    assert archived.active is False
    active = client.v1.prices.list(params={"product": prod.id, "active": True})
    assert [p.id for p in active.data] == [one_time.id]
    prod = client.v1.products.update(prod.id, params={"active": False, "metadata": {"k": "v"}})
    assert prod.active is False
    assert prod.metadata["k"] == "v"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.prices.create(
            params={
                "product": prod.id,
                "currency": "cad",
                "unit_amount": 100,
                "recurring": {"interval": "fortnight"},
            }
        )  # type: ignore[typeddict-item]
    assert exc.value.param == "recurring[interval]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.prices.create(
            params={"product": "prod_missing", "currency": "cad", "unit_amount": 100}
        )
    assert exc.value.code == "resource_missing"


def test_coupons_and_promotion_codes(client: stripe.StripeClient) -> None:
    pct = client.v1.coupons.create(
        params={"percent_off": 25, "duration": "once", "max_redemptions": 10}
    )
    assert pct.valid is True
    assert pct.percent_off == 25
    amt = client.v1.coupons.create(
        params={
            "amount_off": 500,
            "currency": "cad",
            "duration": "repeating",
            "duration_in_months": 3,
            "redeem_by": int(time.time()) + 3600,
        }
    )
    assert amt.amount_off == 500
    assert amt.duration_in_months == 3
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.coupons.create(params={"percent_off": 10, "amount_off": 100, "currency": "cad"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.coupons.create(params={"percent_off": 10, "duration": "repeating"})
    assert exc.value.param == "duration_in_months"
    code = f"SAVE{uuid.uuid4().hex[:8].upper()}"
    promo = client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": pct.id},
            "code": code,
            "restrictions": {"minimum_amount": 2000, "minimum_amount_currency": "cad"},
            "max_redemptions": 5,
        }
    )
    assert promo.code == code
    assert promo.active is True
    assert promo.restrictions.minimum_amount == 2000  # type: ignore[union-attr]
    assert promo.promotion.coupon == pct.id  # type: ignore[union-attr]
    expanded = client.v1.promotion_codes.retrieve(promo.id, params={"expand": ["promotion.coupon"]})
    assert expanded.promotion.coupon.percent_off == 25  # type: ignore[union-attr]
    with pytest.raises(stripe.InvalidRequestError):  # same active code twice
        client.v1.promotion_codes.create(
            params={"promotion": {"type": "coupon", "coupon": pct.id}, "code": code}
        )
    found = client.v1.promotion_codes.list(params={"code": code})
    assert [p.id for p in found.data] == [promo.id]
    off = client.v1.promotion_codes.update(promo.id, params={"active": False})
    assert off.active is False
    assert client.v1.promotion_codes.list(params={"code": code, "active": True}).data == []
    deleted = client.v1.coupons.delete(amt.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.coupons.retrieve(amt.id)
