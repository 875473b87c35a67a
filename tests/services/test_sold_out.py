"""Sold out (inventory 0) shows everywhere the public sees a product, and a sale that empties
the stock expires cached catalog answers at once."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from shop import db
from shop.models import Order, Product
from shop.services import auth, catalog, orders
from shop.services.catalog_cache import local_catalog_version
from shop.services.fulfilment import fulfil_order
from shop.services.stripe_api import PaymentIntentInfo
from shop.settings import get_settings
from shop.state.site import product_card_data
from shop.web.product_pages import body_block, head_tags
from tests.factories import make_product


def test_inventory_zero_is_sold_out_and_empty_inventory_is_unlimited(session: Session):
    make_product(session, slug="gone", inventory_count=0)
    make_product(session, slug="few", inventory_count=2)
    make_product(session, slug="always")
    views = {
        slug: catalog.get_product(session=session, id_or_slug=slug)
        for slug in ("gone", "few", "always")
    }
    assert {slug: v.sold_out for slug, v in views.items() if v} == {
        "gone": True,
        "few": False,
        "always": False,
    }
    assert product_card_data(views["gone"])["sold_out"] == "Sold out"  # type: ignore[arg-type]
    assert product_card_data(views["few"])["sold_out"] == ""  # type: ignore[arg-type]


def test_crawlable_html_says_sold_out(session: Session):
    make_product(session, slug="gone", name="Gone Guide", inventory_count=0)
    make_product(session, slug="here", name="Here Guide")
    settings = get_settings()
    gone = catalog.get_product(session=session, id_or_slug="gone")
    here = catalog.get_product(session=session, id_or_slug="here")
    assert gone is not None
    assert here is not None
    assert "https://schema.org/SoldOut" in head_tags(gone, settings)
    assert "Sold out" in body_block(gone, settings)
    assert "https://schema.org/InStock" in head_tags(here, settings)
    assert "Sold out" not in body_block(here, settings)


def _order_for_last_copy(database_url: str) -> tuple[int, int, PaymentIntentInfo]:
    with db.session_scope(database_url) as session:
        user = auth.create_user(session=session, email="last@example.com", password=None)
        product = make_product(session, slug="last-copy", price_amount=1000, inventory_count=1)
        order = orders.place_order(
            session=session,
            buyer_id=user.id,  # type: ignore[arg-type]
            items=[orders.LineRequest(product.id, 1)],  # type: ignore[arg-type]
            billing=orders.Billing(country="CA", region="ON"),
        )
        intent = PaymentIntentInfo(
            id="pi_last_copy",
            status="succeeded",
            amount=order.total_amount,
            currency=order.currency,
            metadata={"order_id": str(order.id)},
        )
        return order.id or 0, product.id or 0, intent


def test_selling_the_last_copy_refreshes_cached_catalog_answers(
    api_client, shop_env: Path, database_url: str
):
    # given a product with one copy left whose public answer has been cached
    order_id, product_id, intent = _order_for_last_copy(database_url)
    assert api_client.get("/api/products/last-copy").json()["sold_out"] is False
    version = local_catalog_version()
    # when the paid order is fulfilled (taking the last copy)
    with db.session_scope(database_url) as session:
        assert fulfil_order(session=session, order_id=order_id, payment_intent=intent).fulfilled_now
    # then the catalog version moved on and the next public answer says sold out
    assert local_catalog_version() > version
    assert api_client.get("/api/products/last-copy").json()["sold_out"] is True
    with db.session_scope(database_url) as session:
        assert session.get(Product, product_id).inventory_count == 0  # type: ignore[union-attr]
        assert session.get(Order, order_id).status == "paid"  # type: ignore[union-attr]
