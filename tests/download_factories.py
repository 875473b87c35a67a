"""Builders for download tests: a paid order of a product with a stored file, and its grant."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from shop import db
from shop.models import (
    DownloadGrant,
    Order,
    OrderItem,
    OrderStatus,
    OrderTaxLine,
    ProductFile,
    User,
    utcnow,
)
from shop.services import storage
from tests.factories import make_product

_numbers = itertools.count(1)


@dataclass
class Purchase:
    order: Order
    product_file: ProductFile
    grant: DownloadGrant

    @property
    def grant_id(self) -> int:
        assert self.grant.id is not None
        return self.grant.id


def store_file(
    session: Session,
    *,
    product_id: int,
    data: bytes | None = None,
    sparse_size: int | None = None,
    name: str = "field-guide.pdf",
    content_type: str = "application/pdf",
) -> ProductFile:
    """A product file in the configured storage: `data`, or (local disk only) a sparse file of
    `sparse_size` zero bytes that costs no disk space."""
    if sparse_size is not None:
        key = storage.new_key(".bin")
        path = storage.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            handle.truncate(sparse_size)
        size, digest = sparse_size, ""
    else:
        stored = storage.store_bytes(data or b"", suffix=".pdf")
        key, size, digest = stored.key, stored.size_bytes, stored.sha256
    product_file = ProductFile(
        product_id=product_id,
        storage_key=key,
        original_name=name,
        content_type=content_type,
        size_bytes=size,
        sha256=digest or hashlib.sha256(b"").hexdigest(),
    )
    session.add(product_file)
    session.flush()
    return product_file


def make_purchase(
    session: Session,
    buyer: User,
    *,
    data: bytes | None = b"%PDF-1.4 a small guide\n" * 100,
    sparse_size: int | None = None,
    name: str = "field-guide.pdf",
    product_name: str | None = None,
    limit: int = 5,
    expires_at: datetime | None = None,
    revoked: bool = False,
    created_at: datetime | None = None,
) -> Purchase:
    """A paid order by `buyer` of one product, its tax line, and the grant fulfilment makes."""
    now = utcnow()
    product = make_product(session, name=product_name, price_amount=2000)
    assert product.id is not None
    product_file = store_file(
        session, product_id=product.id, data=data, sparse_size=sparse_size, name=name
    )
    n = next(_numbers)
    order = Order(
        user_id=buyer.id,
        status=OrderStatus.PAID.value,
        currency="cad",
        subtotal_amount=2000,
        tax_amount=260,
        total_amount=2260,
        number=f"ORD-TEST-{n:04d}",
        billing_country="CA",
        billing_region="ON",
        paid_at=now,
        fulfilled_at=now,
        stripe_payment_intent_id=f"pi_test_downloads_{n}_{buyer.id}",
    )
    session.add(order)
    session.flush()
    item = OrderItem(
        order_id=order.id or 0,
        product_id=product.id,
        product_name=product.name,
        quantity=1,
        price_at_time=2000,
    )
    session.add(item)
    session.add(
        OrderTaxLine(order_id=order.id or 0, name="HST", jurisdiction="ON", rate="0.13", amount=260)
    )
    session.flush()
    grant = DownloadGrant(
        order_item_id=item.id or 0,
        product_file_id=product_file.id or 0,
        user_id=buyer.id,
        expires_at=expires_at or now + timedelta(days=7),
        download_limit=limit,
        download_count=0,
        revoked_at=now if revoked else None,
        created_at=created_at or now,
    )
    session.add(grant)
    session.flush()
    return Purchase(order=order, product_file=product_file, grant=grant)


def download_count(database_url: str, grant_id: int) -> int:
    """The grant's download count as stored now (read in a session of its own)."""
    with db.session_scope(database_url) as s:
        grant = s.get(DownloadGrant, grant_id)
        assert grant is not None
        return grant.download_count
