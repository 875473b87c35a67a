"""Customers, products, prices, coupons and promotion codes."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
import stripe

from .conftest import Receiver, Server


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


def test_the_default_price_is_archived_only_once_it_is_no_longer_the_default(
    client: stripe.StripeClient,
) -> None:
    # given a product whose default price is its only price
    prod = client.v1.products.create(
        params={"name": "Atlas", "default_price_data": {"currency": "cad", "unit_amount": 1500}}
    )
    first = str(prod.default_price)
    # when the default price is archived, then Stripe's refusal comes back
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.prices.update(first, params={"active": False})
    assert refused.value.param == "active"
    assert "default price" in str(refused.value.user_message)
    assert client.v1.prices.retrieve(first).active is True
    # when another price becomes the default, then the first one can be archived
    second = client.v1.prices.create(
        params={"product": prod.id, "currency": "cad", "unit_amount": 1800}
    )
    client.v1.products.update(prod.id, params={"default_price": second.id})
    assert client.v1.prices.update(first, params={"active": False}).active is False
    # and so can the second once the product has no default price
    cleared = client.v1.products.update(prod.id, params={"default_price": ""})
    assert cleared.default_price is None
    assert client.v1.prices.update(second.id, params={"active": False}).active is False


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


def one_time_price(client: stripe.StripeClient, amount: int = 500) -> stripe.Price:
    product = client.v1.products.create(params={"name": "T-shirt"})
    return client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": amount}
    )


def checkout_session(client: stripe.StripeClient, price: stripe.Price, **extra: Any) -> Any:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 2}],
            "success_url": "https://shop.example/done",
            **extra,
        }
    )


def test_checkout_session_expands_its_line_items(client: stripe.StripeClient) -> None:
    # given a Checkout Session for two T-shirts
    price = one_time_price(client)
    session = checkout_session(client, price)
    # when it is retrieved with its line items and their products expanded
    got = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items.data.price.product"]}
    )
    # then the line items come as a list object with the product inside
    items = got.line_items
    assert items.object == "list"  # type: ignore[union-attr]
    assert items.has_more is False  # type: ignore[union-attr]
    assert items.url == f"/v1/checkout/sessions/{session.id}/line_items"  # type: ignore[union-attr]
    (item,) = items.data  # type: ignore[union-attr]
    assert item.object == "item"
    assert item.quantity == 2
    assert item.amount_total == 1000
    assert item.price.product.name == "T-shirt"  # type: ignore[union-attr]
    assert item.to_dict()["adjustable_quantity"] is None
    # and a plain retrieve leaves them out, as Stripe does
    assert "line_items" not in client.v1.checkout.sessions.retrieve(session.id)
    # when sessions are listed with their line items
    listed = client.v1.checkout.sessions.list(params={"expand": ["data.line_items"], "limit": 3})
    # then each carries its own
    mine = next(s for s in listed.data if s.id == session.id)
    assert [i.price.id for i in mine.line_items.data] == [price.id]  # type: ignore[union-attr]


def test_customer_expands_subscriptions_and_tax_ids(client: stripe.StripeClient) -> None:
    # given a customer with one subscription
    cus = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    product = client.v1.products.create(params={"name": "Club"})
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}]}
    )
    # when the customer is retrieved with them expanded
    got = client.v1.customers.retrieve(cus.id, params={"expand": ["subscriptions", "tax_ids"]})
    # then both are list objects
    assert got.subscriptions.object == "list"  # type: ignore[union-attr]
    assert [s.id for s in got.subscriptions.data] == [sub.id]  # type: ignore[union-attr]
    assert got.subscriptions.url == f"/v1/customers/{cus.id}/subscriptions"  # type: ignore[union-attr]
    assert got.tax_ids.object == "list"  # type: ignore[union-attr]
    assert got.tax_ids.data == []  # type: ignore[union-attr]


def test_deleting_a_customer_cancels_its_subscriptions(fresh: Server, receiver: Receiver) -> None:
    c = fresh.client
    c.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["customer.subscription.deleted"]}
    )
    # given a customer with an active subscription
    cus = c.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    product = c.v1.products.create(params={"name": "Club"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )
    sub = c.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price.id}]})
    # when the customer is deleted
    c.v1.customers.delete(cus.id)
    # then the subscription is canceled at once and Stripe's event says so
    sub = c.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.ended_at is not None
    evts = receiver.wait_for(lambda e: len(e) >= 1)
    assert evts[0]["type"] == "customer.subscription.deleted"
    assert evts[0]["data"]["object"]["id"] == sub.id


def promotion_code(client: stripe.StripeClient, **params: Any) -> stripe.PromotionCode:
    coupon = client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    return client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, **params}
    )


@pytest.mark.parametrize(
    ("code_params", "message"),
    [
        ({"active": False}, "inactive or expired"),
        (
            {"restrictions": {"minimum_amount": 5000, "minimum_amount_currency": "usd"}},
            "minimum amount",
        ),
        ({"customer": "other"}, "customer"),
        ({"max_redemptions": 1, "used_up": True}, "inactive or expired"),
    ],
)
def test_checkout_session_refuses_a_promotion_code_that_does_not_apply(
    client: stripe.StripeClient, code_params: dict[str, Any], message: str
) -> None:
    # given a promotion code this purchase may not use
    price = one_time_price(client)
    if code_params.get("customer") == "other":
        code_params["customer"] = client.v1.customers.create().id
    used_up = code_params.pop("used_up", False)
    code = promotion_code(client, **code_params)
    if used_up:
        cus = client.v1.customers.create(
            params={
                "payment_method": "pm_card_visa",
                "invoice_settings": {"default_payment_method": "pm_card_visa"},
            }
        )
        recurring = client.v1.prices.create(
            params={
                "product": str(price.product),
                "currency": "usd",
                "unit_amount": 900,
                "recurring": {"interval": "month"},
            }
        )
        client.v1.subscriptions.create(
            params={
                "customer": cus.id,
                "items": [{"price": recurring.id}],
                "discounts": [{"promotion_code": code.id}],
            }
        )
    # when a Checkout Session is created with it
    with pytest.raises(stripe.InvalidRequestError) as exc:
        checkout_session(client, price, discounts=[{"promotion_code": code.id}])
    # then Stripe's error names the discount
    assert exc.value.http_status == 400
    assert exc.value.param == "discounts[0][promotion_code]"
    assert message in str(exc.value.user_message)


def test_checkout_session_refuses_an_invalid_coupon(client: stripe.StripeClient) -> None:
    # given a coupon whose only redemption is used
    price = one_time_price(client)
    coupon = client.v1.coupons.create(
        params={"percent_off": 10, "duration": "once", "max_redemptions": 1}
    )
    first = checkout_session(client, price, discounts=[{"coupon": coupon.id}])
    assert first.amount_total == 900
    cus = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    recurring = client.v1.prices.create(
        params={
            "product": str(price.product),
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )
    client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": recurring.id}],
            "discounts": [{"coupon": coupon.id}],
        }
    )
    # when a Checkout Session is created with it
    with pytest.raises(stripe.InvalidRequestError) as exc:
        checkout_session(client, price, discounts=[{"coupon": coupon.id}])
    # then it is refused
    assert exc.value.param == "discounts[0][coupon]"


def test_checkout_session_takes_a_promotion_code_that_applies(client: stripe.StripeClient) -> None:
    # given a code for orders of at least $10
    price = one_time_price(client)
    code = promotion_code(
        client, restrictions={"minimum_amount": 1000, "minimum_amount_currency": "usd"}
    )
    # when two $5 T-shirts are bought with it
    session = checkout_session(client, price, discounts=[{"promotion_code": code.id}])
    # then half is off
    assert session.amount_subtotal == 1000
    assert session.amount_total == 500


def test_promotion_code_and_coupon_must_expire_in_the_future(client: stripe.StripeClient) -> None:
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "once"})
    # when a promotion code is created already expired, then it is refused
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.promotion_codes.create(
            params={
                "promotion": {"type": "coupon", "coupon": coupon.id},
                "expires_at": int(time.time()) - 60,
            }
        )
    assert exc.value.param == "expires_at"
    # and likewise a coupon redeemable only in the past
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.coupons.create(
            params={"percent_off": 10, "duration": "once", "redeem_by": int(time.time()) - 60}
        )
    assert exc.value.param == "redeem_by"


def test_price_with_a_fractional_decimal_has_no_unit_amount(client: stripe.StripeClient) -> None:
    # when a price costs 12.5 cents
    price = client.v1.prices.create(
        params={"currency": "usd", "unit_amount_decimal": "12.5", "product_data": {"name": "Bolt"}}
    )
    # then only the decimal carries it
    assert price.unit_amount is None
    assert price.unit_amount_decimal == Decimal("12.5")
    # and a whole decimal still fills unit_amount
    whole = client.v1.prices.create(
        params={"currency": "usd", "unit_amount_decimal": "1200", "product_data": {"name": "Nut"}}
    )
    assert whole.unit_amount == 1200


def test_metadata_that_is_not_a_hash_is_refused_in_words(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.create(params={"metadata": "notadict"})  # type: ignore[typeddict-item]
    assert exc.value.param == "metadata"
    assert str(exc.value.user_message) == "Invalid object: metadata must be a hash"


def test_subscription_invoice_settings_match_stripe(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Club"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}]}
    )
    settings = sub.invoice_settings.to_dict()
    assert settings["custom_fields"] is None
    assert settings["description"] is None
    assert settings["footer"] is None
