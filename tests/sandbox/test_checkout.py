"""Checkout Sessions without a browser: UI modes, completion through the control endpoint."""

from __future__ import annotations

import pytest
import stripe

from .conftest import Server


def one_time_price(c: stripe.StripeClient, amount: int = 2500) -> stripe.Price:
    prod = c.v1.products.create(params={"name": "Poster"})
    return c.v1.prices.create(params={"product": prod.id, "currency": "cad", "unit_amount": amount})


def test_a_session_is_a_hosted_page_by_default(client: stripe.StripeClient) -> None:
    price = one_time_price(client)
    cs = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://x.example/ok",
            "line_items": [{"price": price.id, "quantity": 1}],
        }
    )
    assert cs.ui_mode == "hosted_page"
    assert cs.url
    assert cs.client_secret is None


def test_an_embedded_session_has_a_client_secret_and_completes_to_its_return_url(
    shared: Server,
) -> None:
    c = shared.client
    price = one_time_price(c)
    # when a session is created for Stripe.js' embedded checkout
    cs = c.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "ui_mode": "embedded_page",
            "return_url": "https://x.example/back?session_id={CHECKOUT_SESSION_ID}",
            "line_items": [{"price": price.id, "quantity": 1}],
        }
    )
    # then it has no page of its own but a client secret for the front end
    assert cs.ui_mode == "embedded_page"
    assert cs.url is None
    assert cs.client_secret
    assert cs.client_secret.startswith(f"{cs.id}_secret_")
    assert cs.return_url == "https://x.example/back?session_id={CHECKOUT_SESSION_ID}"
    # and when the customer pays in it, it completes and sends them to the return URL
    r = shared.http.post(
        f"/_sandbox/checkout_sessions/{cs.id}/complete",
        json={"email": "embedded@example.com"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["redirect_url"] == f"https://x.example/back?session_id={cs.id}"
    cs = c.v1.checkout.sessions.retrieve(cs.id, params={"expand": ["payment_intent"]})
    assert (cs.status, cs.payment_status) == ("complete", "paid")
    assert cs.payment_intent.status == "succeeded"  # type: ignore[union-attr]
    assert cs.customer_details.email == "embedded@example.com"  # type: ignore[union-attr]


def test_the_complete_control_reports_a_decline(shared: Server) -> None:
    price = one_time_price(shared.client)
    cs = shared.client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "ui_mode": "elements",
            "return_url": "https://x.example/back",
            "line_items": [{"price": price.id, "quantity": 1}],
        }
    )
    assert (cs.ui_mode, cs.url) == ("elements", None)
    assert cs.client_secret
    r = shared.http.post(
        f"/_sandbox/checkout_sessions/{cs.id}/complete",
        json={"card_number": "4000000000000002"},
    )
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "card_declined"
    assert shared.client.v1.checkout.sessions.retrieve(cs.id).status == "open"


def test_embedded_sessions_take_return_url_not_success_url(client: stripe.StripeClient) -> None:
    price = one_time_price(client)
    lines = [{"price": price.id, "quantity": 1}]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "ui_mode": "embedded_page",
                "success_url": "https://x.example/ok",
                "return_url": "https://x.example/back",
                "line_items": lines,  # type: ignore[typeddict-item]
            }
        )
    assert exc.value.param == "success_url"  # type: ignore[union-attr]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(
            params={"mode": "payment", "ui_mode": "embedded_page", "line_items": lines}  # type: ignore[typeddict-item]
        )
    assert exc.value.param == "return_url"  # type: ignore[union-attr]
    assert exc.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "success_url": "https://x.example/ok",
                "return_url": "https://x.example/back",
                "line_items": lines,  # type: ignore[typeddict-item]
            }
        )
    assert exc.value.param == "return_url"  # type: ignore[union-attr]
    # without redirects the session needs no return URL
    cs = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "ui_mode": "embedded_page",
            "redirect_on_completion": "never",
            "line_items": lines,  # type: ignore[typeddict-item]
        }
    )
    assert cs.redirect_on_completion == "never"


def test_session_metadata_is_not_copied_to_the_payment_intent(shared: Server) -> None:
    # given a payment session with metadata of its own and for its PaymentIntent
    price = one_time_price(shared.client)
    plain = shared.client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://x.example/ok",
            "line_items": [{"price": price.id, "quantity": 1}],
            "metadata": {"order_id": "o-1"},
        }
    )
    with_pi_data = shared.client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://x.example/ok",
            "line_items": [{"price": price.id, "quantity": 1}],
            "metadata": {"order_id": "o-2"},
            "payment_intent_data": {"metadata": {"order": "o-2"}},
        }
    )
    # when both are paid on their hosted page
    for cs in (plain, with_pi_data):
        r = shared.http.post(
            f"/_sandbox/checkout/{cs.id}",
            data={
                "email": "meta@example.com",
                "card_number": "4242424242424242",
                "card_exp": "12 / 34",
                "card_cvc": "123",
            },
        )
        assert r.status_code == 303, r.text
    # then only payment_intent_data.metadata reaches the PaymentIntent
    plain = shared.client.v1.checkout.sessions.retrieve(
        plain.id, params={"expand": ["payment_intent"]}
    )
    with_pi_data = shared.client.v1.checkout.sessions.retrieve(
        with_pi_data.id, params={"expand": ["payment_intent"]}
    )
    assert plain.to_dict()["metadata"] == {"order_id": "o-1"}
    assert plain.to_dict()["payment_intent"]["metadata"] == {}
    assert with_pi_data.to_dict()["payment_intent"]["metadata"] == {"order": "o-2"}
