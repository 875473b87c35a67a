from sqlmodel import Session

from shop.models import Product
from shop.services.catalog_cache import bump_catalog_version
from tests.factories import make_product


def test_a_catalog_change_is_visible_at_once(api_client, session: Session):
    # given a product that has been listed (and so cached)
    product = make_product(session, name="Old Name", slug="renamed")
    session.commit()
    assert api_client.get("/api/products").json()["items"][0]["name"] == "Old Name"
    assert api_client.get("/api/products/renamed").json()["name"] == "Old Name"
    # when the catalog changes and says so
    stored = session.get(Product, product.id)
    stored.name = "New Name"
    session.add(stored)
    session.commit()
    bump_catalog_version()
    # then the next answers show the change
    assert api_client.get("/api/products").json()["items"][0]["name"] == "New Name"
    assert api_client.get("/api/products/renamed").json()["name"] == "New Name"


def test_cached_answers_keep_their_own_request_id(api_client, session: Session):
    make_product(session)
    session.commit()
    first = api_client.get("/api/products")
    second = api_client.get("/api/products")
    assert first.content == second.content
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_errors_are_not_cached(api_client, session: Session):
    assert api_client.get("/api/products/later").status_code == 404
    make_product(session, slug="later")
    session.commit()
    assert api_client.get("/api/products/later").status_code == 200
