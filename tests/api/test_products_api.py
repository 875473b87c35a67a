from sqlmodel import Session

from tests.factories import make_category, make_product


def test_list_products_shape_and_cursor_pagination(api_client, session: Session):
    # given three products
    category = make_category(session, slug="guides", name="Guides")
    for i in range(3):
        make_product(
            session, name=f"Guide {i}", slug=f"guide-{i}", price_amount=1000 + i, category=category
        )
    session.commit()
    # when listed two per page
    first = api_client.get("/api/products", params={"limit": 2})
    second = api_client.get(
        "/api/products", params={"limit": 2, "cursor": first.json()["next_cursor"]}
    )
    # then the pages join up and each item has the documented fields
    assert first.status_code == 200
    items = first.json()["items"] + second.json()["items"]
    assert [item["slug"] for item in items] == ["guide-0", "guide-1", "guide-2"]
    assert second.json()["next_cursor"] is None
    assert items[0]["price"] == {"amount": 1000, "currency": "cad"}
    assert items[0]["kind"] == "one_time"
    assert items[0]["category"] == {"slug": "guides", "name": "Guides"}
    assert {"id", "slug", "name", "description", "price", "kind", "interval"} <= set(items[0])


def test_list_products_filters(api_client, session: Session):
    audio = make_category(session, slug="audio")
    make_product(session, name="Loon Calls", category=audio)
    make_product(session, name="Budget Sheet")
    session.commit()
    assert [p["name"] for p in api_client.get("/api/products?category=audio").json()["items"]] == [
        "Loon Calls"
    ]
    assert [p["name"] for p in api_client.get("/api/products?q=budget").json()["items"]] == [
        "Budget Sheet"
    ]


def test_get_product_by_id_or_slug(api_client, session: Session):
    product = make_product(session, slug="loon-calls", kind="subscription", interval="month")
    session.commit()
    by_slug = api_client.get("/api/products/loon-calls")
    by_id = api_client.get(f"/api/products/{product.id}")
    assert by_slug.status_code == by_id.status_code == 200
    assert by_slug.json() == by_id.json()
    assert by_slug.json()["interval"] == "month"


def test_unknown_and_archived_products_are_404_with_error_body(api_client, session: Session):
    make_product(session, slug="archived", is_active=False)
    session.commit()
    for path in ("/api/products/nope", "/api/products/archived", "/api/products/999999"):
        response = api_client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_bad_query_parameters_are_422_naming_the_field(api_client):
    for query, field in (("limit=0", "limit"), ("limit=abc", "limit"), ("cursor=%%%", "cursor")):
        response = api_client.get(f"/api/products?{query}")
        assert response.status_code == 422, query
        assert response.json()["error"]["field"] == field
        assert response.json()["error"]["message"]


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.post("/api/no-such-thing", json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_every_response_has_a_request_id(api_client):
    generated = api_client.get("/api/health")
    forwarded = api_client.get("/api/health", headers={"X-Request-ID": "proxy-req-12345"})
    hostile = api_client.get("/api/health", headers={"X-Request-ID": "bad id\nwith newline"})
    assert len(generated.headers["x-request-id"]) == 32
    assert forwarded.headers["x-request-id"] == "proxy-req-12345"
    assert hostile.headers["x-request-id"] != "bad id\nwith newline"
    assert api_client.get("/api/products/nope").headers["x-request-id"]


def test_request_id_is_in_the_json_log(api_client, capsys):
    response = api_client.get("/api/health", headers={"X-Request-ID": "trace-abcdef-1"})
    assert response.status_code == 200
    assert '"request_id": "trace-abcdef-1"' in capsys.readouterr().err


def test_openapi_and_docs_are_served(api_client):
    spec = api_client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert "/api/products" in spec.json()["paths"]
    assert api_client.get("/api/docs").status_code == 200
