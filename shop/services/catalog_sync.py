"""Keep Stripe's Products and Prices in step with the catalog.

A product maps to one Stripe Product and its current Price. Prices are immutable in Stripe,
so a change of amount, currency, kind or interval creates a new Price and archives the old
one. Every call carries an idempotency key built from the product, its creation time and its
`sync_revision` (bumped by each admin change): a retry of the same revision reuses the keys
and so can never create a second object, while a later edit gets fresh keys.

Stripe down? The product stays saved with `sync_status="not_synced"` and the error;
`sync_pending_products` (a scheduler job) tries again later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, col, select

from shop.models import Product, utcnow
from shop.models.catalog import ProductKind, SyncStatus
from shop.services import stripe_api

log = logging.getLogger("shop.catalog_sync")

SYNC_ERROR_MAX = 500


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    product_id: int
    status: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SyncRun:
    synced: int
    failed: int
    remaining: int


def price_terms(product: Product) -> str:
    """What a Stripe Price fixes: amount, currency, and the billing interval of subscriptions."""
    interval = product.interval if product.kind == ProductKind.SUBSCRIPTION.value else None
    return f"{product.price_amount}:{product.currency}:{product.kind}:{interval or '-'}"


def _key(product: Product, what: str) -> str:
    created = int(product.created_at.timestamp() * 1_000_000)
    return f"shop-product:{product.id}:{created}:r{product.sync_revision}:{what}"


def sync_product(*, session: Session, product_id: int) -> SyncOutcome:
    """Push one product to Stripe now; never raises for Stripe trouble (records it instead)."""
    product = session.get(Product, product_id)
    if product is None:
        return SyncOutcome(product_id=product_id, status="missing")
    metadata = {"shop_product_id": str(product.id), "slug": product.slug}
    try:
        if product.stripe_product_id is None:
            created = stripe_api.create_product(
                name=product.name,
                description=product.description,
                active=product.is_active,
                metadata=metadata,
                idempotency_key=_key(product, "product"),
            )
            product.stripe_product_id = created.id
            session.add(product)
            session.flush()
        terms = price_terms(product)
        if product.stripe_price_id is None or product.stripe_price_terms != terms:
            price = stripe_api.create_price(
                stripe_product_id=product.stripe_product_id,
                unit_amount=product.price_amount,
                currency=product.currency,
                interval=product.interval if product.kind == ProductKind.SUBSCRIPTION else None,
                metadata=metadata,
                idempotency_key=_key(product, f"price:{terms}"),
            )
            product.stripe_price_id = price.id
            product.stripe_price_terms = terms
            session.add(product)
            session.flush()
        # The current Price is the Product's default (what Stripe's dashboard and a reader of
        # the Product show), set before any older Price is archived.
        stripe_api.update_product(
            stripe_product_id=product.stripe_product_id,
            name=product.name,
            description=product.description,
            active=product.is_active,
            metadata=metadata,
            default_price=product.stripe_price_id,
            idempotency_key=_key(product, "product-update"),
        )
        _archive_older_prices(product)
    except stripe_api.StripeUnavailable as exc:
        return _failed(session, product, f"Stripe unreachable: {exc}")
    except stripe_api.StripeRefused as exc:
        return _failed(session, product, f"Stripe refused: {exc}")
    except Exception as exc:
        # A bug in the adapter must not lose the saved product; it stays not_synced and visible.
        log.exception("product %s: Stripe sync failed", product.id)
        return _failed(session, product, f"Stripe sync failed: {exc.__class__.__name__}: {exc}")
    product.sync_status = SyncStatus.SYNCED.value
    product.sync_error = None
    product.synced_at = utcnow()
    session.add(product)
    session.flush()
    return SyncOutcome(product_id=product_id, status=product.sync_status)


def _archive_older_prices(product: Product) -> None:
    """Every active Price the shop made for this product but the current one is archived.
    Asked of Stripe at each sync, so an archive that failed after a new Price was made (the
    sync then ends not_synced) is done by the retry, however the local row has moved on."""
    assert product.stripe_product_id is not None
    for price_id in stripe_api.active_price_ids(
        stripe_product_id=product.stripe_product_id,
        metadata_key="shop_product_id",
        metadata_value=str(product.id),
    ):
        if price_id != product.stripe_price_id:
            stripe_api.archive_price(
                price_id=price_id, idempotency_key=f"shop-price:{price_id}:archive"
            )


def _failed(session: Session, product: Product, error: str) -> SyncOutcome:
    log.warning("product %s not synced to Stripe: %s", product.id, error)
    product.sync_status = SyncStatus.NOT_SYNCED.value
    product.sync_error = error[:SYNC_ERROR_MAX]
    session.add(product)
    session.flush()
    return SyncOutcome(product_id=product.id or 0, status=product.sync_status, error=error)


def sync_pending_products(*, session: Session, limit: int = 50) -> SyncRun:
    """The scheduler job: push products not yet in step with Stripe; stops at an outage."""
    unsynced = or_(
        col(Product.sync_status) == SyncStatus.PENDING.value,
        col(Product.sync_status) == SyncStatus.NOT_SYNCED.value,
    )
    ids = session.exec(
        select(Product.id).where(unsynced).order_by(col(Product.id)).limit(limit)
    ).all()
    synced = failed = 0
    for product_id in ids:
        assert product_id is not None
        outcome = sync_product(session=session, product_id=product_id)
        if outcome.status == SyncStatus.SYNCED.value:
            synced += 1
        else:
            failed += 1
            if outcome.error and outcome.error.startswith("Stripe unreachable"):
                break  # no point hammering a Stripe that is down; the next run tries again
    remaining = len(session.exec(select(Product.id).where(unsynced)).all())
    return SyncRun(synced=synced, failed=failed, remaining=remaining)


def archive_remote(
    *, product_id: int, name: str, stripe_product_id: str, stripe_price_id: str | None
) -> bool:
    """After a product was deleted here: deactivate its Stripe Product and Price (best effort;
    Stripe keeps products that have prices, so they can only be archived there)."""
    key = f"shop-product:{product_id}:{stripe_product_id}:deleted"
    try:
        # Deactivated and without a default price first: Stripe archives no default price.
        stripe_api.update_product(
            stripe_product_id=stripe_product_id,
            name=name,
            description="",
            active=False,
            metadata={"shop_product_id": str(product_id), "deleted": "true"},
            default_price="",
            idempotency_key=key,
        )
        if stripe_price_id:
            stripe_api.archive_price(
                price_id=stripe_price_id, idempotency_key=f"shop-price:{stripe_price_id}:archive"
            )
    except (stripe_api.StripeUnavailable, stripe_api.StripeRefused) as exc:
        log.warning("could not archive deleted product %s in Stripe: %s", product_id, exc)
        return False
    return True
