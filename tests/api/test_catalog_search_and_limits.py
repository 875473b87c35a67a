"""GET /api/products search (accents, control characters), API_PAGE_SIZE_MAX on the list
routes, and the sitemap's catalogue URL."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from shop.settings import get_settings
from tests.factories import make_product, make_user, sign_in_as


def _admin(session: Session) -> dict[str, str]:
    user = make_user(session, roles=("admin",), password=None)
    signed = sign_in_as(session, user)
    session.commit()
    return {"Authorization": f"Bearer {signed.tokens.access_token}"}


def _names(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


@pytest.mark.parametrize("q", ["Érable", "ÉRABLE", "été", "écrit", "ECRIT", "crème"])
def test_search_finds_accented_capitals_in_public_and_admin_lists(
    api_client, session: Session, q: str
):
    make_product(
        session, name="Érable Été Guide", description="Un guide ÉCRIT en français. Crème brûlée."
    )
    make_product(session, name="Budget Sheet")
    headers = _admin(session)
    assert _names(api_client.get("/api/products", params={"q": q})) == ["Érable Été Guide"]
    admin = api_client.get("/api/admin/products", params={"q": q}, headers=headers)
    assert _names(admin) == ["Érable Été Guide"]


@pytest.mark.parametrize("q", ["\x1b", "\x1b\x07", "\t"])
def test_a_query_of_control_characters_is_no_search(api_client, session: Session, q: str):
    make_product(session, name="One")
    make_product(session, name="Two")
    session.commit()
    assert sorted(_names(api_client.get("/api/products", params={"q": q}))) == ["One", "Two"]
    assert _names(api_client.get("/api/products", params={"q": "\x1bTwo"})) == ["Two"]


def test_a_nul_in_the_query_is_refused_like_anywhere_else(api_client, session: Session):
    # (PostgreSQL cannot compare text with a NUL in it: see tests/api/test_unstorable_text.py)
    make_product(session, name="Two")
    session.commit()
    for q in ("\x00", "\x00Two"):
        response = api_client.get("/api/products", params={"q": q})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_input"


@pytest.fixture
def page_size_max_3(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("API_PAGE_SIZE_MAX", "3")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "path", ["/api/products", "/api/admin/products", "/api/admin/users", "/api/admin/audit"]
)
def test_list_routes_honour_api_page_size_max(api_client, session: Session, page_size_max_3, path):
    for i in range(5):
        make_product(session, name=f"Item {i}")
        make_user(session, password=None)
    headers = _admin(session)
    # a limit above the setting is refused, naming the maximum
    refused = api_client.get(path, params={"limit": 4}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_input"
    assert "at most 3" in refused.json()["error"]["message"]
    # the maximum itself is fine, and without a limit the route's default is cut to it
    assert api_client.get(path, params={"limit": 3}, headers=headers).status_code == 200
    unlimited = api_client.get(path, headers=headers)
    assert unlimited.status_code == 200
    assert len(unlimited.json()["items"]) <= 3


def test_the_default_page_size_max_is_100_on_admin_lists_too(api_client, session: Session):
    headers = _admin(session)
    for path in ("/api/products", "/api/admin/products", "/api/admin/users"):
        assert api_client.get(path, params={"limit": 100}, headers=headers).status_code == 200
        assert api_client.get(path, params={"limit": 101}, headers=headers).status_code == 422


def test_the_sitemap_lists_the_catalogue_url_that_answers_without_a_redirect(api_client):
    body = api_client.get("/sitemap.xml").text
    assert "<loc>http://shop.test/products/</loc>" in body
    assert "<loc>http://shop.test/products</loc>" not in body
