"""Stripe sync of the catalog against the bundled sandbox: idempotent, retried, honest state."""

from __future__ import annotations

import socket

import pytest
import stripe
from sqlmodel import Session, select

from shop.db import session_scope
from shop.models import Product
from shop.services import catalog_sync, products_admin
from shop.settings import get_settings

BASE = {"name": "Sync Me", "price_amount": 1200, "currency": "cad"}


def _sandbox(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_sandbox", base_addresses={"api": url}, max_network_retries=0
    )


def _dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _sync_then_crash(database_url: str, product_id: int, seen: list[str | None]) -> None:
    with session_scope(database_url) as session:
        catalog_sync.sync_product(session=session, product_id=product_id)
        product = session.get(Product, product_id)
        assert product is not None
        seen.extend([product.stripe_product_id, product.stripe_price_id])
        raise RuntimeError("crash before commit")


def test_a_sync_lost_after_stripe_answered_is_replayed_not_duplicated(
    database_url: str, shop_stripe: str
):
    # given a saved product
    with session_scope(database_url) as session:
        product_id = products_admin.create_product(session=session, fields=BASE).id
    # when a sync reaches Stripe but its local write is lost (the transaction rolls back)
    lost_ids: list[str | None] = []
    with pytest.raises(RuntimeError, match="crash"):
        _sync_then_crash(database_url, product_id, lost_ids)
    # and the sync runs again
    with session_scope(database_url) as session:
        outcome = catalog_sync.sync_product(session=session, product_id=product_id)
        product = session.get(Product, product_id)
        assert product is not None
        # then the same idempotency keys gave back the very same Stripe objects
        assert outcome.status == "synced", outcome.error
        assert [product.stripe_product_id, product.stripe_price_id] == lost_ids
        assert None not in lost_ids


def test_a_subscription_gets_a_recurring_price(session: Session, shop_stripe: str):
    # given a yearly plan
    product = products_admin.create_product(
        session=session, fields={**BASE, "kind": "subscription", "interval": "year"}
    )
    # when it is synced
    outcome = catalog_sync.sync_product(session=session, product_id=product.id)
    # then its Stripe Price recurs yearly
    assert outcome.status == "synced", outcome.error
    price = _sandbox(shop_stripe).v1.prices.retrieve(product.stripe_price_id)
    assert price.recurring is not None
    assert price.recurring.interval == "year"


def test_archiving_deactivates_the_stripe_product(session: Session, shop_stripe: str):
    product = products_admin.create_product(session=session, fields=BASE)
    catalog_sync.sync_product(session=session, product_id=product.id)
    products_admin.archive_product(session=session, product_id=product.id)
    outcome = catalog_sync.sync_product(session=session, product_id=product.id)
    assert outcome.status == "synced", outcome.error
    assert _sandbox(shop_stripe).v1.products.retrieve(product.stripe_product_id).active is False


def test_the_retry_job_stops_at_an_outage_and_reports_what_remains(
    session: Session, monkeypatch: pytest.MonkeyPatch, shop_env
):
    # given three unsynced products and Stripe down
    for n in range(3):
        products_admin.create_product(session=session, fields={**BASE, "name": f"P{n}"})
    monkeypatch.setenv("STRIPE_API_BASE", _dead_url())
    get_settings.cache_clear()
    # when the retry job runs
    run = catalog_sync.sync_pending_products(session=session)
    # then it gave up after the first failure, marking it, and all three remain
    assert (run.synced, run.failed, run.remaining) == (0, 1, 3)
    statuses = sorted(p.sync_status for p in session.exec(select(Product)).all())
    assert statuses == ["not_synced", "pending", "pending"]


def test_an_archive_that_failed_after_a_price_change_is_done_by_the_retry(
    session: Session, shop_stripe: str, monkeypatch: pytest.MonkeyPatch
):
    # given a synced product whose price then changes
    product = products_admin.create_product(session=session, fields=BASE)
    assert catalog_sync.sync_product(session=session, product_id=product.id).status == "synced"
    old_price_id = product.stripe_price_id
    product.price_amount = 1500
    product.sync_revision += 1
    session.add(product)
    session.flush()

    # when Stripe fails just as the old Price is being archived (the new one was made)
    real_archive = catalog_sync.stripe_api.archive_price

    def unreachable(**_kwargs: object) -> None:
        raise catalog_sync.stripe_api.StripeUnavailable("no connection (timed out)")

    monkeypatch.setattr(catalog_sync.stripe_api, "archive_price", unreachable)
    failed = catalog_sync.sync_product(session=session, product_id=product.id)
    assert failed.status == "not_synced"
    assert product.stripe_price_id != old_price_id
    stripe = _sandbox(shop_stripe)
    assert stripe.v1.prices.retrieve(old_price_id).active is True

    # and the retry runs once Stripe answers again
    monkeypatch.setattr(catalog_sync.stripe_api, "archive_price", real_archive)
    retried = catalog_sync.sync_product(session=session, product_id=product.id)

    # then the old Price is archived, and only the current one is active and the default
    assert retried.status == "synced", retried.error
    assert stripe.v1.prices.retrieve(old_price_id).active is False
    active = stripe.v1.prices.list(params={"product": product.stripe_product_id, "active": True})
    assert [price.id for price in active.data] == [product.stripe_price_id]
    stripe_product = stripe.v1.products.retrieve(product.stripe_product_id)
    assert stripe_product.default_price == product.stripe_price_id


def test_a_deleted_product_is_deactivated_at_stripe_and_its_price_archived(
    session: Session, shop_stripe: str
):
    # given a synced product (its Price is the Stripe Product's default)
    product = products_admin.create_product(session=session, fields=BASE)
    catalog_sync.sync_product(session=session, product_id=product.id)
    assert product.stripe_product_id
    assert product.stripe_price_id
    # when it is deleted here and archived there
    archived = catalog_sync.archive_remote(
        product_id=product.id,
        name=product.name,
        stripe_product_id=product.stripe_product_id,
        stripe_price_id=product.stripe_price_id,
    )
    # then both are inactive at Stripe (the default price was taken away first)
    assert archived is True
    stripe = _sandbox(shop_stripe)
    assert stripe.v1.products.retrieve(product.stripe_product_id).active is False
    assert stripe.v1.prices.retrieve(product.stripe_price_id).active is False
