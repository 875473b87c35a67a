"""Events, signed webhook delivery, retries, the delivery log and the chaos controls."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import stripe

from stripe_sandbox import Sandbox

from .conftest import RETURN_URL, Receiver, Server, make_client


def endpoint(srv: Server, url: str, events: list[str] | None = None) -> str:
    we = srv.client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": events or ["*"]}
    )  # type: ignore[typeddict-item]
    assert we.secret  # type: ignore[union-attr]
    return we.secret  # type: ignore[return-value]


def test_events_are_emitted_signed_and_verified_by_the_sdk(
    fresh: Server, receiver: Receiver
) -> None:
    secret = endpoint(fresh, receiver.url)
    only_charges = Receiver()
    try:
        endpoint(fresh, only_charges.url, ["charge.succeeded"])
        c = fresh.client
        cus = c.v1.customers.create(params={"email": "hook@example.com"})
        pi = c.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "customer": cus.id,
                "confirm": True,
                "return_url": RETURN_URL,
                "payment_method": "pm_card_visa",
            }
        )
        want = [
            "customer.created",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
        ]
        receiver.wait_for(lambda evts: [e["type"] for e in evts] == want)
        for raw in receiver.requests:
            event = stripe.Webhook.construct_event(raw["body"], raw["signature"], secret)
            assert event.type in want
            with pytest.raises(stripe.SignatureVerificationError):
                stripe.Webhook.construct_event(raw["body"], raw["signature"], "whsec_wrong")
        only_charges.wait_for(lambda evts: [e["type"] for e in evts] == ["charge.succeeded"])
        succeeded = receiver.ok_events()[-1]
        assert succeeded["data"]["object"]["id"] == pi.id
        assert succeeded["data"]["object"]["status"] == "succeeded"
        fresh.flush()
        evt = c.v1.events.retrieve(succeeded["id"])
        assert evt.type == "payment_intent.succeeded"
        assert evt.pending_webhooks == 0
        listed = c.v1.events.list(params={"type": "payment_intent.*"})
        assert [e.type for e in listed.data] == [
            "payment_intent.succeeded",
            "payment_intent.created",
        ]
    finally:
        only_charges.close()


def test_failure_events_and_refund_events(fresh: Server, receiver: Receiver) -> None:
    endpoint(fresh, receiver.url)
    c = fresh.client
    pi = c.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.CardError):
        c.v1.payment_intents.confirm(
            pi.id,
            params={"payment_method": "pm_card_visa_chargeDeclined", "return_url": RETURN_URL},
        )
    c.v1.payment_intents.confirm(
        pi.id, params={"payment_method": "pm_card_visa", "return_url": RETURN_URL}
    )
    c.v1.refunds.create(params={"payment_intent": pi.id})
    c.v1.payment_intents.cancel(
        c.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"}).id
    )
    want = [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "refund.created",
        "charge.refunded",
        "payment_intent.created",
        "payment_intent.canceled",
    ]
    receiver.wait_for(lambda evts: [e["type"] for e in evts] == want)


def test_retries_with_backoff_pending_webhooks_and_delivery_success(
    fresh: Server, receiver: Receiver
) -> None:
    endpoint(fresh, receiver.url)
    c = fresh.client
    fresh.control("webhooks/pause")
    cus = c.v1.customers.create()
    evt = c.v1.events.list(params={"type": "customer.created"}).data[0]
    assert evt.data.object.id == cus.id
    assert evt.pending_webhooks == 1
    pending = c.v1.events.list(params={"delivery_success": False})
    assert evt.id in [e.id for e in pending.data]
    receiver.fail_next = 2
    fresh.control("webhooks/resume")
    receiver.wait_for(lambda evts: len(evts) == 1)
    fresh.flush()  # the log line is written once the sandbox has read the response
    log = fresh.deliveries(event=evt.id)
    assert [(d["attempt"], d["status"], d["http_status"]) for d in log] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "succeeded", 200),
    ]
    gaps = [b["at"] - a["at"] for a, b in zip(log, log[1:], strict=False)]
    # retry_base is 0.05 s: the waits are at least 0.05 s, then 0.1 s (exponential backoff)
    assert gaps[0] >= 0.045
    assert gaps[1] >= 0.095
    fresh.flush()
    assert c.v1.events.retrieve(evt.id).pending_webhooks == 0
    assert evt.id not in [e.id for e in c.v1.events.list(params={"delivery_success": False}).data]
    assert evt.id in [e.id for e in c.v1.events.list(params={"delivery_success": True}).data]


def test_unreachable_endpoint_gives_up_after_max_attempts(fresh: Server) -> None:
    endpoint(fresh, "http://127.0.0.1:9/nothing-listens-here")
    cus = fresh.client.v1.customers.create()
    deadline = time.time() + 10
    while time.time() < deadline:
        log = fresh.deliveries()
        if len(log) >= 5:
            break
        time.sleep(0.05)
    assert [d["attempt"] for d in log] == [1, 2, 3, 4, 5]
    assert all(d["status"] == "failed" and d["error"] for d in log)
    time.sleep(0.3)
    assert len(fresh.deliveries()) == 5
    evt = fresh.client.v1.events.list(params={"delivery_success": False}).data[0]
    assert evt.data.object.id == cus.id


def test_duplicate_deliveries(fresh: Server, receiver: Receiver) -> None:
    endpoint(fresh, receiver.url)
    fresh.control("webhooks/duplicate", {"copies": 3})
    fresh.client.v1.customers.create()
    evts = receiver.wait_for(lambda evts: len(evts) == 3)
    assert len({e["id"] for e in evts}) == 1
    fresh.control("webhooks/reset")
    fresh.client.v1.customers.create()
    evts = receiver.wait_for(lambda evts: len(evts) == 4)
    time.sleep(0.2)
    assert len(receiver.ok_events()) == 4


def test_shuffle_a_held_batch(fresh: Server, receiver: Receiver) -> None:
    endpoint(fresh, receiver.url)
    fresh.control("webhooks/pause")
    ids = [fresh.client.v1.customers.create(params={"name": f"c{i}"}).id for i in range(12)]
    fresh.control("webhooks/shuffle", {"enabled": True, "seed": 7})
    fresh.control("webhooks/resume")
    evts = receiver.wait_for(lambda evts: len(evts) == 12)
    got = [e["data"]["object"]["id"] for e in evts]
    assert sorted(got) == sorted(ids)
    assert got != ids


def test_delay(fresh: Server, receiver: Receiver) -> None:
    endpoint(fresh, receiver.url)
    fresh.control("webhooks/delay", {"seconds": 0.6})
    start = time.time()
    fresh.client.v1.customers.create()
    time.sleep(0.3)
    assert receiver.ok_events() == []
    receiver.wait_for(lambda evts: len(evts) == 1)
    assert time.time() - start >= 0.6


def test_drop_then_replay(fresh: Server, receiver: Receiver) -> None:
    endpoint(fresh, receiver.url)
    fresh.control("webhooks/drop", {"count": 1, "retry": False})
    first = fresh.client.v1.customers.create(params={"name": "lost"})
    second = fresh.client.v1.customers.create(params={"name": "kept"})
    evts = receiver.wait_for(lambda evts: len(evts) == 1)
    assert evts[0]["data"]["object"]["id"] == second.id
    fresh.flush()
    lost = [d for d in fresh.deliveries() if d["status"] == "dropped"]
    assert len(lost) == 1
    lost_evt = fresh.client.v1.events.retrieve(lost[0]["event"])
    assert lost_evt.data.object.id == first.id
    assert lost_evt.pending_webhooks == 1
    out = fresh.control(f"events/{lost_evt.id}/replay")
    assert out["event"] == lost_evt.id
    evts = receiver.wait_for(lambda evts: len(evts) == 2)
    assert evts[1]["id"] == lost_evt.id
    # a dropped delivery that is retried arrives later by itself
    fresh.control("webhooks/drop", {"count": 1, "retry": True})
    third = fresh.client.v1.customers.create()
    evts = receiver.wait_for(lambda evts: len(evts) == 3)
    assert evts[2]["data"]["object"]["id"] == third.id


def test_replay_unknown_event_is_404(fresh: Server) -> None:
    r = fresh.http.post("/_sandbox/events/evt_nope/replay", json={})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "resource_missing"


def test_cli_webhook_url_and_secret(tmp_path: Path, receiver: Receiver) -> None:
    sb = Sandbox(
        str(tmp_path / "cli.sqlite3"),
        webhook_url=receiver.url,
        webhook_secret="whsec_from_the_shop",
        retry_base=0.05,
    )
    with sb.serve() as url:
        client = make_client(url)
        prod = client.v1.products.create(params={"name": "Hook"})
        client.v1.products.update(prod.id, params={"name": "Hooked"})
        evts = receiver.wait_for(lambda evts: len(evts) == 2)
        assert [e["type"] for e in evts] == ["product.created", "product.updated"]
        assert evts[1]["data"]["previous_attributes"] == {"name": "Hook"}
        for raw in receiver.requests:
            stripe.Webhook.construct_event(raw["body"], raw["signature"], "whsec_from_the_shop")


def test_webhook_endpoint_crud(fresh: Server) -> None:
    c = fresh.client
    we = c.v1.webhook_endpoints.create(
        params={
            "url": "https://example.com/hook",
            "enabled_events": ["charge.succeeded"],
            "metadata": {"a": "b"},
        }
    )
    assert we.status == "enabled"
    got = c.v1.webhook_endpoints.retrieve(we.id)
    assert got.to_dict().get("secret") is None
    we2 = c.v1.webhook_endpoints.update(we.id, params={"enabled_events": ["*"], "disabled": True})
    assert we2.enabled_events == ["*"]
    assert we2.status == "disabled"
    assert [w.id for w in c.v1.webhook_endpoints.list().data] == [we.id]
    assert c.v1.webhook_endpoints.delete(we.id).deleted is True
    assert c.v1.webhook_endpoints.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as exc:
        c.v1.webhook_endpoints.create(params={"url": "not a url", "enabled_events": ["*"]})
    assert exc.value.param == "url"
