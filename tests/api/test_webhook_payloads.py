"""Signed Stripe events with odd contents: an order id no row can have finds no order; an
event that can never be processed (wrong shape) is a 400 with nothing stored, not a 500 that
Stripe would retry for days; bodies of Stripe's sizes are accepted, larger ones are 413."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from shop.models import WebhookEvent
from shop.settings import get_settings

BEYOND = "1180591620717411303424"  # 2**70: no order can have this id


def _signed_post(client: TestClient, payload: str) -> Any:
    secret = get_settings().effective_stripe_webhook_secret
    timestamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return client.post(
        "/api/webhooks/stripe",
        content=payload.encode(),
        headers={"Stripe-Signature": f"t={timestamp},v1={mac}", "Content-Type": "application/json"},
    )


def _event(event_type: str, data_object: Any, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"evt_{event_type.replace('.', '_')}_{time.monotonic_ns()}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": data_object},
        **fields,
    }


def _intent(**fields: Any) -> dict[str, Any]:
    return {
        "id": "pi_odd_1",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 1130,
        "currency": "cad",
        "metadata": {"order_id": "1"},
        **fields,
    }


def _stored(session: Session) -> list[WebhookEvent]:
    session.expire_all()
    return list(session.exec(select(WebhookEvent)).all())


def test_a_payment_for_an_order_id_no_row_can_have_finds_no_order(
    api_client: TestClient, session: Session
):
    # given a signed succeeded event whose metadata names order 2**70
    event = _event("payment_intent.succeeded", _intent(metadata={"order_id": BEYOND}))
    # when it is delivered
    response = _signed_post(api_client, json.dumps(event))
    # then it is acknowledged as processed, about no order
    assert response.status_code == 200, response.text
    assert response.json()["handled"] is True
    [row] = _stored(session)
    assert (row.stripe_event_id, row.order_id) == (event["id"], None)
    assert row.processed_at is not None


@pytest.mark.parametrize("metadata", [{"order_id": BEYOND}, {"order_id": "²"}, ["order_id"], "x"])
def test_an_unhandled_event_type_with_an_odd_order_id_is_stored_about_no_order(
    api_client: TestClient, session: Session, metadata: Any
):
    # given an event of a type the shop does not act on, about a PaymentIntent
    event = _event("payment_intent.created", _intent(metadata=metadata))
    # when it is delivered, then it is stored and acknowledged
    response = _signed_post(api_client, json.dumps(event))
    assert response.status_code == 200, response.text
    assert [row.order_id for row in _stored(session)] == [None]


def test_a_refund_for_an_order_id_no_row_can_have_is_a_refund_of_no_order(
    api_client: TestClient, session: Session
):
    refund = {
        "id": "re_odd_1",
        "object": "refund",
        "amount": 500,
        "currency": "cad",
        "status": "succeeded",
        "payment_intent": None,
        "metadata": {"order_id": BEYOND},
    }
    response = _signed_post(api_client, json.dumps(_event("refund.created", refund)))
    assert response.status_code == 200, response.text
    assert len(_stored(session)) == 1


MALFORMED = {
    "object id a number, amount a word": _event(
        "payment_intent.succeeded", _intent(id=5, amount="x")
    ),
    "event id a number": {**_event("payment_intent.succeeded", _intent()), "id": 5},
    "event id longer than Stripe's": {
        **_event("payment_intent.succeeded", _intent()),
        "id": "evt_" + "x" * 300,
    },
    "type a number": {**_event("payment_intent.succeeded", _intent()), "type": 7},
    "created a word": {**_event("payment_intent.succeeded", _intent()), "created": "today"},
    "data.object a list": _event("payment_intent.succeeded", [_intent()]),
    "no data": {"id": "evt_no_data", "type": "payment_intent.succeeded"},
    "an array, not an event": [_event("payment_intent.succeeded", _intent())],
    "amount beyond any column": _event("payment_intent.succeeded", _intent(amount=2**70)),
    "amount with a fraction": _event("payment_intent.succeeded", _intent(amount=11.3)),
    "metadata a string": _event("payment_intent.succeeded", _intent(metadata="order 1")),
    "last_payment_error a string": _event(
        "payment_intent.payment_failed",
        _intent(status="requires_payment_method", last_payment_error="no"),
    ),
    "refund amount a word": _event(
        "refund.created", {"id": "re_1", "object": "refund", "amount": "x", "currency": "cad"}
    ),
    "charge refunds a word": _event("charge.refunded", {"id": "ch_1", "refunds": "x"}),
    "charge refund without amount": _event(
        "charge.refunded", {"id": "ch_1", "refunds": {"data": [{"id": "re_2"}]}}
    ),
}


@pytest.mark.parametrize("event", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_signed_event_of_the_wrong_shape_is_400_and_nothing_is_stored(
    api_client: TestClient, session: Session, event: Any
):
    # when a correctly signed body that is not a processable Stripe event is delivered
    response = _signed_post(api_client, json.dumps(event))
    # then it is refused with a clear 400 (Stripe shows the reason), and nothing was written
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert _stored(session) == []


def test_nan_in_a_signed_body_is_400_as_it_is_not_json(api_client: TestClient, session: Session):
    payload = json.dumps(_event("payment_intent.succeeded", _intent())).replace("1130", "NaN")
    response = _signed_post(api_client, payload)
    assert response.status_code == 400, response.text
    assert _stored(session) == []


def test_events_of_stripes_sizes_are_accepted_and_larger_bodies_are_413(
    api_client: TestClient, session: Session
):
    # given an event of 1.5 MiB (more than other endpoints take) and one of 3 MiB
    large = _event(
        "customer.updated", {"id": "cus_1", "object": "customer", "note": "x" * 1_572_864}
    )
    too_large = _event(
        "customer.updated", {"id": "cus_2", "object": "customer", "note": "x" * 3_145_728}
    )
    # when both are delivered
    accepted = _signed_post(api_client, json.dumps(large))
    refused = _signed_post(api_client, json.dumps(too_large))
    # then the first is stored and the second refused in the JSON error shape
    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert session.exec(select(func.count()).select_from(WebhookEvent)).one() == 1


def test_the_webhook_is_documented_in_the_openapi_schema(api_client: TestClient):
    # when the OpenAPI document is read
    operation = api_client.get("/api/openapi.json").json()["paths"]["/api/webhooks/stripe"]["post"]
    # then the webhook is there with its signature header, its body and its answers
    assert operation["summary"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"].lower() == "stripe-signature"
    assert "application/json" in operation["requestBody"]["content"]
    assert {"200", "400", "500", "503"} <= set(operation["responses"])
