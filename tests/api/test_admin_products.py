"""Admin catalog through the REST API: CRUD, permissions, validation, uploads, Stripe sync."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from PIL import Image
from sqlmodel import Session, select

from shop.models import AuditLog, Order, OrderItem, ProductFile
from shop.settings import get_settings
from tests.factories import make_category, make_product, make_user, sign_in_as


def _bearer(session: Session, *roles: str) -> dict[str, str]:
    user = make_user(session, roles=roles, password=None)
    signed = sign_in_as(session, user)
    session.commit()
    return {"Authorization": f"Bearer {signed.tokens.access_token}"}


@pytest.fixture
def admin(session: Session, shop_stripe: str) -> dict[str, str]:
    return _bearer(session, "admin")


def _png(width: int = 1200, height: int = 800, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 60)).save(out, format="PNG")
    return out.getvalue()


def _new_product(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Field Recorder Presets",
        "description": "Presets for **field** recording.",
        "price": {"amount": 1999, "currency": "cad"},
        "kind": "one_time",
    }
    body.update(overrides)
    response = client.post("/api/products", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


# --- CRUD ------------------------------------------------------------------------------------


def test_admin_creates_a_product_that_the_public_api_then_lists(api_client, session, admin):
    # given an admin and a category
    make_category(session, slug="audio", name="Audio")
    session.commit()
    # when the admin creates a product in it
    created = _new_product(
        api_client,
        admin,
        category="audio",
        seo_title="Presets for field recorders",
        inventory_count=25,
        download_limit=3,
    )
    # then it has a generated slug and is readable publicly with the same price and category
    assert created["slug"] == "field-recorder-presets"
    assert created["effective_download_limit"] == 3
    assert created["effective_download_days"] == get_settings().default_download_days
    public = api_client.get(f"/api/products/{created['slug']}").json()
    assert public["id"] == created["id"]
    assert public["price"] == {"amount": 1999, "currency": "cad"}
    assert public["category"] == {"slug": "audio", "name": "Audio"}
    assert created["id"] in [p["id"] for p in api_client.get("/api/products").json()["items"]]


def test_put_changes_only_the_fields_sent(api_client, admin):
    # given a product
    created = _new_product(api_client, admin, seo_description="Kept as is.")
    # when the admin changes its price and name only
    response = api_client.put(
        f"/api/products/{created['id']}",
        json={"name": "Presets Pro", "price": {"amount": 2999, "currency": "cad"}},
        headers=admin,
    )
    # then those changed, the rest (slug included) did not
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["price"]["amount"]) == ("Presets Pro", 2999)
    assert body["slug"] == created["slug"]
    assert body["seo_description"] == "Kept as is."


def test_an_edit_shows_in_the_cached_public_catalog_at_once(api_client, admin):
    # given a product whose public listing has been read (and cached)
    created = _new_product(api_client, admin)
    assert api_client.get("/api/products").json()["items"][0]["name"] == created["name"]
    # when the admin renames it
    api_client.put(f"/api/products/{created['id']}", json={"name": "Renamed"}, headers=admin)
    # then the next public read shows the new name
    assert api_client.get("/api/products").json()["items"][0]["name"] == "Renamed"


def test_what_get_returned_can_be_sent_back_with_put(api_client, admin):
    # given a product as the public API shows it
    created = _new_product(api_client, admin)
    public = api_client.get(f"/api/products/{created['id']}").json()
    # when that document is sent back with one change
    public["name"] = "Round trip"
    response = api_client.put(f"/api/products/{created['id']}", json=public, headers=admin)
    # then it is accepted (read-only fields are ignored)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Round trip"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"price": {"amount": 0, "currency": "cad"}}, "price.amount"),
        ({"price": {"amount": 19.99, "currency": "cad"}}, "price.amount"),
        ({"price": {"amount": "1999", "currency": "cad"}}, "price.amount"),
        ({"price": {"amount": 1999, "currency": "dollars"}}, "price.currency"),
        ({"price": {"amount": 1999, "currency": "ZZZ"}}, "price.currency"),
        ({"kind": "subscription"}, "interval"),
        ({"kind": "one_time", "interval": "month"}, "interval"),
        ({"kind": "rental"}, "kind"),
        ({"seo_title": "x" * 71}, "seo_title"),
        ({"seo_description": "x" * 161}, "seo_description"),
        ({"inventory_count": -1}, "inventory_count"),
        ({"download_limit": 0}, "download_limit"),
        ({"download_days": 0}, "download_days"),
        ({"category": "no-such-shelf"}, "category"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "12345"}, "slug"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_changes_nothing(
    api_client, admin, change, field
):
    # given a product
    created = _new_product(api_client, admin)
    # when an invalid value is sent
    response = api_client.put(f"/api/products/{created['id']}", json=change, headers=admin)
    # then 422 names the field, and the product is unchanged
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    after = api_client.get(f"/api/admin/products/{created['id']}", headers=admin).json()
    assert {k: after[k] for k in ("name", "price", "kind", "slug")} == {
        k: created[k] for k in ("name", "price", "kind", "slug")
    }


def test_an_empty_product_is_422_listing_every_problem_and_naming_the_first(api_client, admin):
    # when an admin posts a product with nothing in it
    response = api_client.post("/api/products", json={}, headers=admin)
    # then the 422 lists the missing name and price, and `field` is still the first of them
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == "name"
    assert error["details"] == [
        {"field": "name", "message": "name is required."},
        {"field": "price.amount", "message": "price.amount is required."},
    ]
    assert api_client.get("/api/admin/products", headers=admin).json()["items"] == []


def test_an_edit_breaking_several_fields_is_422_listing_each(api_client, admin):
    # given a product
    created = _new_product(api_client, admin)
    # when an edit empties the name, asks for a free price and a negative stock
    response = api_client.put(
        f"/api/products/{created['id']}",
        json={"name": "", "price": {"amount": 0}, "inventory_count": -2},
        headers=admin,
    )
    # then every one of them is listed, and nothing changed
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [problem["field"] for problem in error["details"]] == [
        "name",
        "price.amount",
        "inventory_count",
    ]
    after = api_client.get(f"/api/admin/products/{created['id']}", headers=admin).json()
    assert (after["name"], after["price"], after["inventory_count"]) == (
        created["name"],
        created["price"],
        None,
    )


def test_a_product_in_a_made_up_currency_is_refused_and_not_created(api_client, admin):
    # given an admin
    # when a product is created in "ZZZ", three letters that are no ISO 4217 currency
    response = api_client.post(
        "/api/products",
        json={"name": "Mystery Money", "price": {"amount": 1999, "currency": "ZZZ"}},
        headers=admin,
    )
    # then 422 names price.currency, and no product was made
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "price.currency"
    assert "ISO 4217" in response.json()["error"]["message"]
    assert api_client.get("/api/admin/products", headers=admin).json()["items"] == []


def test_a_taken_slug_is_a_409_naming_the_slug_and_generated_slugs_never_collide(api_client, admin):
    # given a product called "Sample Pack"
    first = _new_product(api_client, admin, name="Sample Pack")
    # when another product gets the same name, then its generated slug differs
    second = _new_product(api_client, admin, name="Sample Pack")
    assert (first["slug"], second["slug"]) == ("sample-pack", "sample-pack-2")
    # when the admin sets the first one's slug on the second, then 409 names the slug
    response = api_client.put(
        f"/api/products/{second['id']}", json={"slug": "sample-pack"}, headers=admin
    )
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "slug"


def test_a_subscription_needs_an_interval_and_keeps_it(api_client, admin):
    # when a monthly subscription is created
    created = _new_product(api_client, admin, kind="subscription", interval="month")
    # then it is a subscription with that interval
    assert (created["kind"], created["interval"]) == ("subscription", "month")
    # when it becomes a one-time product, then its interval goes away
    response = api_client.put(
        f"/api/products/{created['id']}", json={"kind": "one_time"}, headers=admin
    )
    assert (response.json()["kind"], response.json()["interval"]) == ("one_time", None)


def test_delete_removes_a_product_nobody_bought(api_client, admin, shop_env: Path):
    # given a product with a file
    created = _new_product(api_client, admin)
    upload = api_client.post(
        f"/api/products/{created['id']}/files",
        files={"file": ("notes.txt", b"hello", "text/plain")},
        headers=admin,
    )
    assert upload.status_code == 201
    # when it is deleted
    response = api_client.delete(f"/api/products/{created['id']}", headers=admin)
    # then it is gone, its stored file too
    assert response.json()["outcome"] == "deleted"
    assert api_client.get(f"/api/admin/products/{created['id']}", headers=admin).status_code == 404
    assert [p for p in (shop_env / "files").rglob("*") if p.is_file()] == []


def test_delete_archives_a_product_that_was_ordered_and_says_so(api_client, session, admin):
    # given a product that is on an order
    created = _new_product(api_client, admin)
    order = Order(status="paid", subtotal_amount=1999, total_amount=1999)
    session.add(order)
    session.flush()
    session.add(
        OrderItem(order_id=order.id, product_id=created["id"], product_name="x", price_at_time=1999)
    )
    session.commit()
    # when the admin deletes it
    response = api_client.delete(f"/api/products/{created['id']}", headers=admin)
    # then it was archived instead, which the answer says; the public no longer sees it
    assert response.status_code == 200
    assert response.json()["outcome"] == "archived"
    assert "archived" in response.json()["message"]
    assert api_client.get(f"/api/products/{created['id']}").status_code == 404
    admin_view = api_client.get(f"/api/admin/products/{created['id']}", headers=admin).json()
    assert admin_view["is_active"] is False


def test_every_change_is_in_the_audit_log(api_client, session, admin):
    # when a product is created, edited and deleted
    created = _new_product(api_client, admin)
    api_client.put(f"/api/products/{created['id']}", json={"name": "B"}, headers=admin)
    api_client.delete(f"/api/products/{created['id']}", headers=admin)
    # then the audit log holds the three actions on that product, by the admin
    rows = session.exec(select(AuditLog).where(AuditLog.target == f"product:{created['id']}")).all()
    assert [r.action for r in rows] == [
        "catalog.product.create",
        "catalog.product.update",
        "catalog.product.delete",
    ]
    assert all(r.actor_user_id is not None for r in rows)


def test_the_admin_list_filters_and_shows_archived_products(api_client, admin):
    # given an active and an archived product
    active = _new_product(api_client, admin, name="Alpha")
    archived = _new_product(api_client, admin, name="Beta", is_active=False)
    # when the admin lists archived products only
    page = api_client.get("/api/admin/products?is_active=false", headers=admin).json()
    # then only the archived one is there
    assert [p["id"] for p in page["items"]] == [archived["id"]]
    assert page["total"] == 1
    found = api_client.get("/api/admin/products?q=alph", headers=admin).json()["items"]
    assert [p["id"] for p in found] == [active["id"]]


# --- permissions -----------------------------------------------------------------------------

WRITE_ENDPOINTS = [
    ("POST", "/api/products"),
    ("PUT", "/api/products/{id}"),
    ("DELETE", "/api/products/{id}"),
    ("POST", "/api/products/{id}/files"),
    ("POST", "/api/products/{id}/image"),
    ("DELETE", "/api/products/{id}/files/1"),
    ("GET", "/api/admin/products"),
    ("POST", "/api/admin/categories"),
    ("DELETE", "/api/admin/categories/1"),
]


@pytest.mark.parametrize(("method", "path"), WRITE_ENDPOINTS)
@pytest.mark.parametrize(("who", "expected"), [(None, 401), ("customer", 403)])
def test_anonymous_get_401_and_customers_403_on_admin_endpoints(
    api_client, session, method, path, who, expected
):
    # given a product and a caller who is anonymous or a customer
    product = make_product(session)
    headers = _bearer(session, who) if who else {}
    session.commit()
    # when they call an admin endpoint
    response = api_client.request(
        method, path.format(id=product.id), headers=headers, json={"name": "x"}
    )
    # then they are refused and nothing changed
    assert response.status_code == expected, response.text
    assert api_client.get(f"/api/products/{product.id}").json()["name"] == product.name


def test_support_staff_may_read_the_admin_list_but_not_write(api_client, session):
    # given a support agent
    headers = _bearer(session, "support")
    # then reading the admin list is fine and creating a product is not
    assert api_client.get("/api/admin/products", headers=headers).status_code == 200
    response = api_client.post(
        "/api/products",
        json={"name": "x", "price": {"amount": 100, "currency": "cad"}},
        headers=headers,
    )
    assert response.status_code == 403


# --- uploads ---------------------------------------------------------------------------------


def test_a_downloadable_file_is_stored_outside_the_media_folder_with_its_hash(
    api_client, session, admin, shop_env: Path
):
    # given a product and a file
    created = _new_product(api_client, admin)
    data = b"PK\x03\x04" + bytes(range(256)) * 1000
    # when it is uploaded
    response = api_client.post(
        f"/api/products/{created['id']}/files",
        files={"file": ("../../Sample Pack.zip", data, "application/zip")},
        headers=admin,
    )
    # then size, SHA-256, type and a cleaned original name are kept
    assert response.status_code == 201, response.text
    body = response.json()
    import hashlib

    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert (body["original_name"], body["content_type"]) == ("Sample Pack.zip", "application/zip")
    # and the bytes sit under a generated name in the private files folder, nowhere in media
    row = session.exec(select(ProductFile).where(ProductFile.id == body["id"])).one()
    stored = shop_env / "files" / row.storage_key
    assert stored.read_bytes() == data
    assert "Sample" not in row.storage_key
    assert not (shop_env / "media").exists() or not any(
        p.read_bytes() == data for p in (shop_env / "media").rglob("*") if p.is_file()
    )


def test_an_image_is_reencoded_to_a_large_and_a_thumbnail_webp(api_client, admin, shop_env):
    # given a product
    created = _new_product(api_client, admin)
    # when a big PNG is uploaded as its image
    response = api_client.post(
        f"/api/products/{created['id']}/image",
        files={"file": ("cover.png", _png(3000, 1500), "image/png")},
        headers=admin,
    )
    # then two WebP files exist, bounded by the configured sizes, and the product shows the large
    assert response.status_code == 200, response.text
    body = response.json()
    settings = get_settings()
    large = Image.open(shop_env / "media" / body["image_url"].removeprefix("/media/"))
    thumb = Image.open(shop_env / "media" / body["image_thumbnail_url"].removeprefix("/media/"))
    assert (large.format, thumb.format) == ("WEBP", "WEBP")
    assert large.size == (settings.image_large_px, settings.image_large_px // 2)
    assert max(thumb.size) == settings.image_thumbnail_px
    public = api_client.get(f"/api/products/{created['id']}").json()
    assert public["image_url"] == body["image_url"]
    assert api_client.get(body["image_url"]).headers["content-type"] == "image/webp"


def test_a_new_image_replaces_the_old_files(api_client, admin, shop_env):
    # given a product with an image
    created = _new_product(api_client, admin)
    first = api_client.post(
        f"/api/products/{created['id']}/image",
        files={"file": ("a.png", _png(), "image/png")},
        headers=admin,
    ).json()
    # when another image is uploaded
    api_client.post(
        f"/api/products/{created['id']}/image",
        files={"file": ("b.png", _png(500, 500, "RGBA"), "image/png")},
        headers=admin,
    )
    # then the first image's files are gone
    assert not (shop_env / "media" / first["image_url"].removeprefix("/media/")).exists()
    assert len(list((shop_env / "media" / "products").iterdir())) == 2


@pytest.mark.parametrize(
    "content",
    [
        b"this is plain text pretending to be an image",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # a PNG signature and garbage
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    ],
)
def test_a_non_image_renamed_png_is_refused(api_client, admin, shop_env, content):
    # given a product
    created = _new_product(api_client, admin)
    # when a file that is not an image is uploaded as cover.png
    response = api_client.post(
        f"/api/products/{created['id']}/image",
        files={"file": ("cover.png", content, "image/png")},
        headers=admin,
    )
    # then it is refused, naming the field, and nothing was written
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "file"
    assert api_client.get(f"/api/products/{created['id']}").json()["image_url"] is None
    assert not (shop_env / "media" / "products").exists() or not list(
        (shop_env / "media" / "products").iterdir()
    )


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width` × `height` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [10_000, 20_000])  # beyond Pillow's warning, and its hard limit
def test_a_decompression_bomb_is_refused_as_too_many_pixels(api_client, admin, side):
    # given a product
    created = _new_product(api_client, admin)
    # when a 100-byte PNG declaring side × side pixels is uploaded as its image
    response = api_client.post(
        f"/api/products/{created['id']}/image",
        files={"file": ("cover.png", _png_header_only(side, side), "image/png")},
        headers=admin,
    )
    # then it is refused as too large in pixels (it is a PNG, not "not an image")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "file"
    limit = get_settings().image_max_pixels
    assert error["message"] == f"The image is too large (more than {limit:,} pixels)."
    assert api_client.get(f"/api/products/{created['id']}").json()["image_url"] is None


def test_an_upload_without_a_file_field_is_422(api_client, admin):
    created = _new_product(api_client, admin)
    response = api_client.post(
        f"/api/products/{created['id']}/files",
        files={"attachment": ("a.txt", b"abc", "text/plain")},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "file"


def test_an_upload_to_a_missing_product_is_404(api_client, admin):
    response = api_client.post(
        "/api/products/999999/files",
        files={"file": ("a.txt", b"abc", "text/plain")},
        headers=admin,
    )
    assert response.status_code == 404


class CountingBody:
    """A request body produced lazily, counting how much of it the server pulled."""

    def __init__(self, boundary: str, file_size: int, chunk: int = 64 * 1024) -> None:
        self.head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.file_size = file_size
        self.chunk = chunk
        self.consumed = 0

    @property
    def total(self) -> int:
        return len(self.head) + self.file_size + len(self.tail)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.consumed += len(self.head)
        yield self.head
        sent = 0
        block = b"\xab" * self.chunk
        while sent < self.file_size:
            piece = block[: min(self.chunk, self.file_size - sent)]
            sent += len(piece)
            self.consumed += len(piece)
            yield piece
        self.consumed += len(self.tail)
        yield self.tail


async def _post_streaming(
    app: Any, path: str, body: CountingBody, headers: dict[str, str]
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        return await client.post(path, content=body.__aiter__(), headers=headers)


@pytest.fixture
def small_upload_limit(shop_env, monkeypatch) -> int:
    limit = 1024 * 1024
    monkeypatch.setenv("UPLOAD_MAX_FILE_BYTES", str(limit))
    get_settings.cache_clear()
    return limit


def test_an_oversize_upload_is_413_before_the_body_is_read(
    api_client, admin, small_upload_limit, shop_env
):
    # given a 1 MiB limit and a 64 MiB upload sent without a Content-Length (chunked)
    created = _new_product(api_client, admin)
    body = CountingBody("b0undary", file_size=64 * 1024 * 1024)
    headers = {**admin, "Content-Type": "multipart/form-data; boundary=b0undary"}
    # when it is posted
    response = asyncio.run(
        _post_streaming(api_client.app, f"/api/products/{created['id']}/files", body, headers)
    )
    # then 413 comes after reading little more than the limit, far from the whole body
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert body.consumed <= small_upload_limit + 2 * 64 * 1024
    assert body.consumed < body.total / 30
    # and no partial file is left behind
    assert [p for p in (shop_env / "files").rglob("*") if p.is_file()] == []


def test_a_too_large_content_length_is_refused_without_reading_anything(
    api_client, admin, small_upload_limit
):
    # given an upload that announces 64 MiB against a 1 MiB limit
    created = _new_product(api_client, admin)
    body = CountingBody("b0undary", file_size=64 * 1024 * 1024)
    headers = {
        **admin,
        "Content-Type": "multipart/form-data; boundary=b0undary",
        "Content-Length": str(body.total),
    }
    # when it is posted, then 413 comes before a single body byte is pulled
    response = asyncio.run(
        _post_streaming(api_client.app, f"/api/products/{created['id']}/files", body, headers)
    )
    assert response.status_code == 413
    assert body.consumed == 0


def test_an_upload_just_under_the_limit_is_stored(api_client, admin, small_upload_limit):
    # given a file of exactly the limit
    created = _new_product(api_client, admin)
    body = CountingBody("b0undary", file_size=small_upload_limit)
    headers = {**admin, "Content-Type": "multipart/form-data; boundary=b0undary"}
    # when it is posted, then it is stored whole
    response = asyncio.run(
        _post_streaming(api_client.app, f"/api/products/{created['id']}/files", body, headers)
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == small_upload_limit


# --- Markdown ----------------------------------------------------------------------------------


def test_markdown_with_script_is_rendered_harmless(api_client, admin):
    # given a description with script, handlers and a javascript: link
    evil = (
        "# Great\n\n<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) and [fine](https://example.com)"
    )
    # when it is saved
    created = _new_product(api_client, admin, description=evil)
    # then the HTML has the heading and the safe link, and nothing that could run
    html = created["description_html"]
    # The admin preview shows what the storefront will show, where the product name is the
    # page's one <h1>: a description's "#" heading is an <h2> there (deliberate change; it
    # used to be an <h1>, a second one on the product page).
    assert "<h2>Great</h2>" in html
    assert "<h1>" not in html
    assert 'href="https://example.com"' in html
    assert dangerous_parts(html) == []


def dangerous_parts(html: str) -> list[str]:
    """Elements, attributes and URLs in `html` that a browser could execute."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("script", "style", "iframe", "object", "embed", "svg"):
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on") or name == "style":
                    found.append(f"{tag}[{name}]")
                if name in ("href", "src") and (value or "").strip().lower().startswith(
                    ("javascript:", "data:", "vbscript:")
                ):
                    found.append(f"{tag}[{name}={value}]")

    Finder().feed(html)
    return found


# --- Stripe sync -----------------------------------------------------------------------------


def _sandbox_client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_sandbox", base_addresses={"api": url}, max_network_retries=0
    )


def test_a_new_product_gets_a_stripe_product_and_price(api_client, admin, shop_stripe):
    # when a product is created
    created = _new_product(api_client, admin)
    # then it is synced, and the sandbox has its Product and Price
    assert created["sync_status"] == "synced", created["sync_error"]
    price = _sandbox_client(shop_stripe).v1.prices.retrieve(created["stripe_price_id"])
    assert (price.unit_amount, price.currency, price.product) == (
        1999,
        "cad",
        created["stripe_product_id"],
    )


def test_a_price_change_creates_a_new_stripe_price_and_archives_the_old(
    api_client, admin, shop_stripe
):
    # given a synced product
    created = _new_product(api_client, admin)
    old_price_id = created["stripe_price_id"]
    # when its price changes
    updated = api_client.put(
        f"/api/products/{created['id']}",
        json={"price": {"amount": 2499, "currency": "cad"}},
        headers=admin,
    ).json()
    # then a new Price holds the new amount and the old Price is archived
    client = _sandbox_client(shop_stripe)
    assert updated["stripe_price_id"] != old_price_id
    assert updated["stripe_product_id"] == created["stripe_product_id"]
    new_price = client.v1.prices.retrieve(updated["stripe_price_id"])
    assert (new_price.unit_amount, new_price.active) == (2499, True)
    assert client.v1.prices.retrieve(old_price_id).active is False
    # and the Stripe Product names the new Price as its default, as Stripe's dashboard shows it
    stripe_product = client.v1.products.retrieve(created["stripe_product_id"])
    assert stripe_product.default_price == updated["stripe_price_id"]


def test_a_name_change_updates_the_stripe_product_and_keeps_the_price(
    api_client, admin, shop_stripe
):
    created = _new_product(api_client, admin)
    updated = api_client.put(
        f"/api/products/{created['id']}", json={"name": "New name"}, headers=admin
    ).json()
    assert updated["stripe_price_id"] == created["stripe_price_id"]
    product = _sandbox_client(shop_stripe).v1.products.retrieve(created["stripe_product_id"])
    assert product.name == "New name"


def test_with_stripe_hanging_a_save_tries_once_and_leaves_the_rest_to_the_retry_job(
    api_client, admin, monkeypatch
):
    # given a Stripe that takes connections and never answers
    import socket
    import threading

    from shop.services import stripe_api

    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)
    accepted: list[socket.socket] = []

    def take() -> None:
        while True:
            try:
                accepted.append(hanging.accept()[0])
            except OSError:
                return

    threading.Thread(target=take, daemon=True).start()
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{hanging.getsockname()[1]}")
    monkeypatch.setattr(stripe_api, "SOMEONE_WAITS_TIMEOUT_SECONDS", 0.5)
    get_settings.cache_clear()
    try:
        # when an admin creates a product (and waits for the answer)
        created = _new_product(api_client, admin)
    finally:
        hanging.close()
        for connection in accepted:
            connection.close()
    # then it is saved and marked not synced after one try, not the patient retry schedule
    assert created["sync_status"] == "not_synced"
    assert "unreachable" in created["sync_error"]
    assert len(accepted) == 1


def test_with_stripe_down_the_product_is_saved_not_synced_and_a_retry_syncs_it(
    api_client, admin, monkeypatch, shop_stripe
):
    # given Stripe unreachable (nothing listens where the shop looks for it)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("STRIPE_API_BASE", dead)
    get_settings.cache_clear()
    # when a product is created
    created = _new_product(api_client, admin)
    # then it is saved, marked not synced with the reason, and listed as such
    assert created["sync_status"] == "not_synced"
    assert created["stripe_product_id"] is None
    assert "unreachable" in created["sync_error"]
    listed = api_client.get("/api/admin/products?sync_status=not_synced", headers=admin).json()
    assert [p["id"] for p in listed["items"]] == [created["id"]]
    # when Stripe is back and the retry job runs
    monkeypatch.setenv("STRIPE_API_BASE", shop_stripe)
    get_settings.cache_clear()
    from shop.db import session_scope
    from shop.services.catalog_sync import sync_pending_products

    with session_scope() as session:
        run = sync_pending_products(session=session)
    # then the product is synced with a Product and Price in Stripe
    assert (run.synced, run.remaining) == (1, 0)
    after = api_client.get(f"/api/admin/products/{created['id']}", headers=admin).json()
    assert after["sync_status"] == "synced"
    price = _sandbox_client(shop_stripe).v1.prices.retrieve(after["stripe_price_id"])
    assert price.unit_amount == 1999


def test_openapi_documents_the_upload_field(api_client):
    schema = api_client.get("/api/openapi.json").json()
    body = schema["paths"]["/api/products/{product_id}/files"]["post"]["requestBody"]
    assert "file" in json.dumps(body)


def test_a_price_without_currency_keeps_the_products_currency(api_client, admin):
    created = _new_product(api_client, admin, price={"amount": 500, "currency": "usd"})
    response = api_client.put(
        f"/api/products/{created['id']}", json={"price": {"amount": 700}}, headers=admin
    )
    assert response.json()["price"] == {"amount": 700, "currency": "usd"}


def test_the_sitemap_follows_creation_renaming_and_archiving(api_client, admin):
    # when a product is created, then the sitemap lists it
    created = _new_product(api_client, admin, name="Map Me")
    assert "/products/map-me<" in api_client.get("/sitemap.xml").text
    # when its slug changes, then the sitemap shows the new address only
    api_client.put(f"/api/products/{created['id']}", json={"slug": "mapped"}, headers=admin)
    sitemap = api_client.get("/sitemap.xml").text
    assert "/products/mapped<" in sitemap
    assert "/products/map-me<" not in sitemap
    # when it is archived, then it leaves the sitemap and the public API
    api_client.put(f"/api/products/{created['id']}", json={"is_active": False}, headers=admin)
    assert "/products/mapped<" not in api_client.get("/sitemap.xml").text
    assert api_client.get("/api/products/mapped").status_code == 404


@pytest.mark.parametrize(("fmt", "mode"), [("JPEG", "RGB"), ("WEBP", "RGBA"), ("PNG", "P")])
def test_jpeg_webp_and_palette_png_images_are_accepted(api_client, admin, fmt, mode):
    # given an image in one of the accepted formats
    created = _new_product(api_client, admin)
    out = io.BytesIO()
    Image.new(mode, (640, 480)).save(out, format=fmt)
    # when it is uploaded, then the product gets WebP versions of it
    response = api_client.post(
        f"/api/products/{created['id']}/image",
        files={"file": ("photo.bin", out.getvalue(), "application/octet-stream")},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["image_url"].endswith("-large.webp")


def test_an_empty_file_is_refused(api_client, admin, shop_env):
    created = _new_product(api_client, admin)
    response = api_client.post(
        f"/api/products/{created['id']}/files",
        files={"file": ("empty.zip", b"", "application/zip")},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "file"
    assert [p for p in (shop_env / "files").rglob("*") if p.is_file()] == []


def test_an_upload_that_is_not_multipart_is_415(api_client, admin):
    created = _new_product(api_client, admin)
    response = api_client.post(
        f"/api/products/{created['id']}/files",
        content=b"raw bytes",
        headers={**admin, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 415


# --- categories --------------------------------------------------------------------------------


def test_categories_are_managed_through_the_api(api_client, admin):
    # when the admin creates two categories
    fonts = api_client.post("/api/admin/categories", json={"name": "Fonts"}, headers=admin)
    brushes = api_client.post("/api/admin/categories", json={"name": "Brushes"}, headers=admin)
    assert (fonts.status_code, brushes.status_code) == (201, 201)
    fonts_id, brushes_id = fonts.json()["id"], brushes.json()["id"]
    # and renames one and puts Brushes first
    renamed = api_client.put(
        f"/api/admin/categories/{fonts_id}", json={"name": "Typefaces"}, headers=admin
    )
    assert renamed.json()["name"] == "Typefaces"
    order = api_client.put(
        "/api/admin/categories/order", json={"ordered_ids": [brushes_id, fonts_id]}, headers=admin
    )
    assert [c["id"] for c in order.json()] == [brushes_id, fonts_id]
    # then a product can be filed under it, which keeps it from being deleted
    created = _new_product(api_client, admin, category="fonts")
    refused = api_client.delete(f"/api/admin/categories/{fonts_id}", headers=admin)
    assert refused.status_code == 409
    # until the product moves; then the empty category can go
    api_client.put(f"/api/products/{created['id']}", json={"category": None}, headers=admin)
    deleted = api_client.delete(f"/api/admin/categories/{fonts_id}", headers=admin)
    assert deleted.status_code == 204
    assert api_client.delete(f"/api/admin/categories/{fonts_id}", headers=admin).status_code == 404


def test_staff_list_the_categories_with_their_ids_and_product_counts(api_client, admin, session):
    # given two categories, one holding a product
    api_client.post("/api/admin/categories", json={"name": "Fonts"}, headers=admin)
    api_client.post("/api/admin/categories", json={"name": "Brushes"}, headers=admin)
    _new_product(api_client, admin, category="fonts")
    # when staff list them (support may look)
    listed = api_client.get("/api/admin/categories", headers=_bearer(session, "support"))
    # then each comes with what the rename, order and delete endpoints need, in shelf order
    assert listed.status_code == 200
    rows = [(c["name"], c["slug"], c["product_count"]) for c in listed.json()]
    assert rows[-2:] == [("Fonts", "fonts", 1), ("Brushes", "brushes", 0)]
    assert all(isinstance(c["id"], int) for c in listed.json())
    # and a customer or a stranger may not
    assert (
        api_client.get("/api/admin/categories", headers=_bearer(session, "customer")).status_code
        == 403
    )
    assert api_client.get("/api/admin/categories").status_code == 401
