"""PaymentMethods, PaymentIntents (declines, 3-D Secure, capture), Charges and Refunds."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .conftest import RETURN_URL, Server


def card(client: stripe.StripeClient, number: str) -> stripe.PaymentMethod:
    return client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )


def test_lifecycle_to_succeeded(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(
        params={
            "amount": 2599,
            "currency": "cad",
            "metadata": {"order": "o-1"},
            "automatic_payment_methods": {"enabled": True},
        }
    )
    assert pi.status == "requires_payment_method"
    assert pi.client_secret.startswith(f"{pi.id}_secret_")
    assert pi.automatic_payment_methods.enabled is True  # type: ignore[union-attr]
    assert pi.latest_charge is None
    pi = client.v1.payment_intents.update(pi.id, params={"payment_method": "pm_card_mastercard"})
    assert pi.status == "requires_confirmation"
    pi = client.v1.payment_intents.confirm(pi.id, params={"return_url": RETURN_URL})
    assert pi.status == "succeeded"
    assert pi.amount_received == 2599
    ch = client.v1.charges.retrieve(pi.latest_charge)  # type: ignore[arg-type]
    assert ch.paid
    assert ch.captured
    assert ch.status == "succeeded"
    assert ch.payment_method_details.card.brand == "mastercard"  # type: ignore[union-attr]
    assert ch.metadata["order"] == "o-1"
    assert ch.payment_intent == pi.id
    txn = client.v1.balance_transactions.retrieve(ch.balance_transaction)  # type: ignore[arg-type]
    assert txn.amount == 2599
    assert txn.net == txn.amount - txn.fee
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.confirm(pi.id, params={"return_url": RETURN_URL})
    assert exc.value.code == "payment_intent_unexpected_state"


def test_confirm_without_payment_method_is_rejected(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.confirm(pi.id, params={"return_url": RETURN_URL})
    assert exc.value.code == "payment_intent_unexpected_state"


@pytest.mark.parametrize(
    ("pm", "decline_code", "code"),
    [
        ("pm_card_visa_chargeDeclined", "generic_decline", "card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "card_declined"),
        ("4000000000000002", "generic_decline", "card_declined"),
        ("4000000000009995", "insufficient_funds", "card_declined"),
    ],
)
def test_declines(client: stripe.StripeClient, pm: str, decline_code: str, code: str) -> None:
    if pm.isdigit():
        pm = card(client, pm).id
    pi = client.v1.payment_intents.create(params={"amount": 5000, "currency": "usd"})
    with pytest.raises(stripe.CardError) as exc:
        client.v1.payment_intents.confirm(
            pi.id, params={"payment_method": pm, "return_url": RETURN_URL}
        )
    err = exc.value
    assert err.http_status == 402
    assert err.code == code
    assert err.error.decline_code == decline_code  # type: ignore[union-attr]
    assert err.json_body["error"]["payment_intent"]["id"] == pi.id
    pi = client.v1.payment_intents.retrieve(pi.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.decline_code == decline_code  # type: ignore[union-attr]
    assert pi.last_payment_error.type == "card_error"  # type: ignore[union-attr]
    failed = client.v1.charges.retrieve(pi.latest_charge)  # type: ignore[arg-type]
    assert failed.status == "failed"
    assert failed.paid is False
    assert failed.failure_code == code
    # a retry with a good card succeeds
    pi = client.v1.payment_intents.confirm(
        pi.id, params={"payment_method": "pm_card_visa", "return_url": RETURN_URL}
    )
    assert pi.status == "succeeded"
    assert pi.last_payment_error is None


def test_card_numbers_and_payment_method_validation(client: stripe.StripeClient) -> None:
    pm = card(client, "4242424242424242")
    assert pm.card.last4 == "4242"
    assert pm.card.brand == "visa"
    with pytest.raises(stripe.CardError) as exc:
        card(client, "4242424242424241")
    assert exc.value.code == "incorrect_number"
    with pytest.raises(stripe.CardError) as exc:
        client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": "4242424242424242", "exp_month": 13, "exp_year": 2034},
            }
        )
    assert exc.value.code == "invalid_expiry_month"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_methods.create(params={"type": "card", "card": {"nmber": "4242"}})  # type: ignore[typeddict-unknown-key]
    assert exc.value.code == "parameter_unknown"


def test_attach_detach_list_and_default(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(params={"email": "pm@example.com"})
    visa = client.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    assert visa.id.startswith("pm_")
    assert visa.id != "pm_card_visa"
    assert visa.customer == cus.id
    mc = client.v1.payment_methods.attach(
        card(client, "5555555555554444").id, params={"customer": cus.id}
    )
    listed = client.v1.customers.payment_methods.list(cus.id)
    assert {p.id for p in listed.data} == {visa.id, mc.id}
    listed2 = client.v1.payment_methods.list(params={"customer": cus.id, "type": "card"})
    assert [p.id for p in listed2.data] == [mc.id, visa.id]
    cus = client.v1.customers.update(
        cus.id, params={"invoice_settings": {"default_payment_method": mc.id}}
    )
    assert cus.invoice_settings.default_payment_method == mc.id  # type: ignore[union-attr]
    detached = client.v1.payment_methods.detach(mc.id)
    assert detached.customer is None
    cus = client.v1.customers.retrieve(cus.id)
    assert cus.invoice_settings.default_payment_method is None  # type: ignore[union-attr]
    assert [p.id for p in client.v1.customers.payment_methods.list(cus.id).data] == [visa.id]
    # an attached PM needs its customer on the intent
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(
            params={
                "amount": 900,
                "currency": "usd",
                "payment_method": visa.id,
                "confirm": True,
                "return_url": RETURN_URL,
            }
        )
    pi = client.v1.payment_intents.create(
        params={
            "amount": 900,
            "currency": "usd",
            "customer": cus.id,
            "confirm": True,
            "payment_method": visa.id,
            "off_session": True,
        }
    )
    assert pi.status == "succeeded"


def test_three_d_secure_complete_via_redirect_page(shared: Server) -> None:
    client = shared.client
    pi = client.v1.payment_intents.create(
        params={
            "amount": 3000,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "return_url": "https://shop.example/return?x=1",
        }
    )
    assert pi.status == "requires_action"
    assert pi.next_action.type == "redirect_to_url"  # type: ignore[union-attr]
    url = pi.next_action.redirect_to_url.url  # type: ignore[union-attr]
    page = httpx.get(url)
    assert page.status_code == 200
    assert "Complete authentication" in page.text
    assert "Fail authentication" in page.text
    r = httpx.post(
        url.split("?")[0], data={"client_secret": pi.client_secret, "outcome": "complete"}
    )
    assert r.status_code == 303
    loc = r.headers["location"]
    assert loc.startswith("https://shop.example/return?x=1&payment_intent=" + pi.id)
    assert "redirect_status=succeeded" in loc
    pi = client.v1.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge"]})
    assert pi.status == "succeeded"
    three_ds = pi.latest_charge.payment_method_details.card.three_d_secure  # type: ignore[union-attr]
    assert three_ds.result == "authenticated"


def test_three_d_secure_fail(shared: Server) -> None:
    client = shared.client
    pm = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4000002500003155", "exp_month": 1, "exp_year": 2033},
        }
    )
    pi = client.v1.payment_intents.create(params={"amount": 3100, "currency": "usd"})
    pi = client.v1.payment_intents.confirm(
        pi.id, params={"payment_method": pm.id, "use_stripe_sdk": True, "return_url": RETURN_URL}
    )
    assert pi.status == "requires_action"
    assert pi.next_action.type == "use_stripe_sdk"  # type: ignore[union-attr]
    out = shared.control(f"payment_intents/{pi.id}/authenticate", {"outcome": "fail"})
    assert out["status"] == "requires_payment_method"
    pi = client.v1.payment_intents.retrieve(pi.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "payment_intent_authentication_failure"  # type: ignore[union-attr]
    assert pi.latest_charge is None


def test_off_session_authentication_required(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create()
    pm = client.v1.payment_methods.attach(
        "pm_card_authenticationRequired", params={"customer": cus.id}
    )
    with pytest.raises(stripe.CardError) as exc:
        client.v1.payment_intents.create(
            params={
                "amount": 1999,
                "currency": "usd",
                "customer": cus.id,
                "payment_method": pm.id,
                "confirm": True,
                "off_session": True,
            }
        )
    assert exc.value.code == "authentication_required"
    # 0446 only asks on session: off-session it goes through
    pm2 = client.v1.payment_methods.attach(
        card(client, "4000003800000446").id, params={"customer": cus.id}
    )
    pi = client.v1.payment_intents.create(
        params={
            "amount": 1999,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": pm2.id,
            "confirm": True,
            "off_session": True,
        }
    )
    assert pi.status == "succeeded"


def test_cancel(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    pi = client.v1.payment_intents.cancel(
        pi.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert pi.status == "canceled"
    assert pi.canceled_at
    assert pi.cancellation_reason == "requested_by_customer"
    done = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "confirm": True,
            "return_url": RETURN_URL,
            "payment_method": "pm_card_visa",
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.cancel(done.id)
    assert exc.value.code == "payment_intent_unexpected_state"


def test_manual_capture(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(
        params={
            "amount": 4000,
            "currency": "usd",
            "capture_method": "manual",
            "confirm": True,
            "return_url": RETURN_URL,
            "payment_method": "pm_card_visa",
        }
    )
    assert pi.status == "requires_capture"
    assert pi.amount_capturable == 4000
    pi = client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 3000})
    assert pi.status == "succeeded"
    assert pi.amount_received == 3000


def test_refunds_full_partial_and_over_refund(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(
        params={
            "amount": 10000,
            "currency": "usd",
            "confirm": True,
            "return_url": RETURN_URL,
            "payment_method": "pm_card_visa",
        }
    )
    r1 = client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 2500, "reason": "requested_by_customer"}
    )
    assert r1.status == "succeeded"
    assert r1.amount == 2500
    assert r1.charge == pi.latest_charge
    r2 = client.v1.refunds.create(params={"charge": pi.latest_charge, "amount": 5000})  # type: ignore[typeddict-item]
    ch = client.v1.charges.retrieve(pi.latest_charge)  # type: ignore[arg-type]
    assert ch.amount_refunded == 7500
    assert ch.refunded is False
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 2501})
    assert exc.value.param == "amount"
    assert "greater than" in str(exc.value.user_message)
    r3 = client.v1.refunds.create(params={"payment_intent": pi.id})
    assert r3.amount == 2500
    ch = client.v1.charges.retrieve(pi.latest_charge)  # type: ignore[arg-type]
    assert ch.refunded is True
    assert ch.amount_refunded == 10000
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1})
    assert exc.value.code == "charge_already_refunded"
    listed = client.v1.refunds.list(params={"payment_intent": pi.id})
    assert [r.id for r in listed.data] == [r3.id, r2.id, r1.id]
    open_pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": open_pi.id})


def off_session_payment(client: stripe.StripeClient, cus: str, pm: str) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": 1999,
            "currency": "usd",
            "customer": cus,
            "payment_method": pm,
            "confirm": True,
            "off_session": True,
        }
    )


def test_card_set_up_on_session_pays_off_session_but_a_merely_attached_one_does_not(
    shared: Server,
) -> None:
    client = shared.client
    # given a customer with the 3155 card only attached
    cus = client.v1.customers.create()
    attached = client.v1.payment_methods.attach(
        "pm_card_authenticationRequiredOnSetup", params={"customer": cus.id}
    )
    # when it pays off-session, then the bank asks for authentication
    with pytest.raises(stripe.CardError) as exc:
        off_session_payment(client, cus.id, attached.id)
    assert exc.value.code == "authentication_required"
    assert exc.value.error.decline_code == "authentication_required"  # type: ignore[union-attr]
    # given the same card saved by an authenticated on-session payment
    pi = client.v1.payment_intents.create(
        params={
            "amount": 500,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": card(client, "4000002500003155").id,
            "setup_future_usage": "off_session",
            "confirm": True,
            "return_url": RETURN_URL,
        }
    )
    assert pi.status == "requires_action"
    shared.control(f"payment_intents/{pi.id}/authenticate", {"outcome": "complete"})
    saved = client.v1.payment_intents.retrieve(pi.id).payment_method
    # when it pays off-session, then no authentication is needed
    assert off_session_payment(client, cus.id, str(saved)).status == "succeeded"


@pytest.mark.parametrize(
    ("pm", "decline_code"),
    [
        ("pm_card_chargeDeclinedFraudulent", "fraudulent"),
        ("4100000000000019", "fraudulent"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclinedVelocityLimitExceeded", "card_velocity_exceeded"),
        ("4000000000006975", "card_velocity_exceeded"),
    ],
)
def test_documented_decline_cards(client: stripe.StripeClient, pm: str, decline_code: str) -> None:
    # given a documented declining card
    if pm.isdigit():
        pm = card(client, pm).id
    # when it pays
    with pytest.raises(stripe.CardError) as exc:
        client.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "payment_method": pm,
                "confirm": True,
                "return_url": RETURN_URL,
            }
        )
    # then Stripe's card_declined comes back with the card's decline code
    assert exc.value.code == "card_declined"
    assert exc.value.error.decline_code == decline_code  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "pm", ["pm_card_radarBlock", "pm_card_riskLevelHighest", "4000000000004954"]
)
def test_radar_blocks_the_highest_risk_cards(client: stripe.StripeClient, pm: str) -> None:
    # given a card Radar scores as highest risk
    if pm.isdigit():
        pm = card(client, pm).id
    pi = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
    # when it pays
    with pytest.raises(stripe.CardError) as exc:
        client.v1.payment_intents.confirm(
            pi.id, params={"payment_method": pm, "return_url": RETURN_URL}
        )
    # then the payment is declined as fraudulent and the charge was blocked, never sent
    assert exc.value.code == "card_declined"
    assert exc.value.error.decline_code == "fraudulent"  # type: ignore[union-attr]
    charge = client.v1.charges.retrieve(
        str(client.v1.payment_intents.retrieve(pi.id).latest_charge)
    )
    assert charge.outcome.type == "blocked"  # type: ignore[union-attr]
    assert charge.outcome.risk_level == "highest"  # type: ignore[union-attr]
    assert charge.outcome.network_status == "not_sent_to_network"  # type: ignore[union-attr]


@pytest.mark.parametrize("pm", ["pm_card_threeDSecureRequired", "4000000000003063"])
def test_three_d_secure_required_card_always_asks(client: stripe.StripeClient, pm: str) -> None:
    # given a card that always requires 3-D Secure, saved on a customer
    cus = client.v1.customers.create()
    if pm.isdigit():
        pm = card(client, pm).id
    pm = client.v1.payment_methods.attach(pm, params={"customer": cus.id}).id
    # when it pays on session, then it needs authentication
    pi = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": pm,
            "confirm": True,
            "return_url": RETURN_URL,
        }
    )
    assert pi.status == "requires_action"
    # when it pays off session, then it is declined for want of authentication
    with pytest.raises(stripe.CardError) as exc:
        off_session_payment(client, cus.id, pm)
    assert exc.value.code == "authentication_required"


@pytest.mark.parametrize(
    "pm", ["pm_card_authenticationRequiredChargeDeclinedInsufficientFunds", "4000008260003178"]
)
def test_card_declined_after_authentication(shared: Server, pm: str) -> None:
    client = shared.client
    # given a card that asks for 3-D Secure and then has insufficient funds
    if pm.isdigit():
        pm = card(client, pm).id
    pi = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": pm,
            "confirm": True,
            "return_url": RETURN_URL,
        }
    )
    assert pi.status == "requires_action"
    # when the customer completes authentication
    shared.control(f"payment_intents/{pi.id}/authenticate", {"outcome": "complete"})
    # then the payment is declined with insufficient funds
    pi = client.v1.payment_intents.retrieve(pi.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "card_declined"  # type: ignore[union-attr]
    assert pi.last_payment_error.decline_code == "insufficient_funds"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("pm", "brand", "funding"),
    [
        ("pm_card_us", "visa", "credit"),
        ("pm_card_mastercard_prepaid", "mastercard", "prepaid"),
        ("pm_card_jcb", "jcb", "credit"),
        ("pm_card_unionpay", "unionpay", "credit"),
        ("pm_card_diners", "diners", "credit"),
    ],
)
def test_brand_test_cards_pay(
    client: stripe.StripeClient, pm: str, brand: str, funding: str
) -> None:
    # when a documented card of each brand pays
    pi = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": pm,
            "confirm": True,
            "return_url": RETURN_URL,
            "expand": ["payment_method"],
        }
    )
    # then it succeeds with the card's brand and funding
    assert pi.status == "succeeded"
    assert pi.payment_method.card.brand == brand  # type: ignore[union-attr]
    assert pi.payment_method.card.funding == funding  # type: ignore[union-attr]
