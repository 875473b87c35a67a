"""Admin catalog writes: products (same paths as the public reads), files, images, categories.

Every route needs `catalog:write` (reads of the admin list need `catalog:read`): anonymous 401,
other roles 403. Each change runs in its own transaction that commits before the answer, then
the product is pushed to Stripe (a Stripe outage leaves it saved and "not_synced").

Uploads stream: the handlers read `request.stream()` themselves (no `UploadFile`, which would
spool the whole body first), so the size limit answers 413 before the body is read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, StrictInt
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from shop.api.deps import client_ip, require_permission
from shop.api.middleware import body_limit
from shop.api.params import CategoryId, ProductFileId, ProductId, RowId
from shop.api.routes.products import (
    PAGE_SIZE_CEILING,
    PAGE_SIZE_HELP,
    CategoryOut,
    Money,
    page_size,
)
from shop.db import session_scope
from shop.models import Category, Product, ProductFile
from shop.services import (
    catalog_sync,
    categories,
    images,
    products_admin,
    storage,
    stripe_api,
    uploads,
)
from shop.services.auth import CurrentUser as AuthUser
from shop.services.errors import InvalidInput
from shop.services.markdown import render_description_html
from shop.settings import get_settings

router = APIRouter(tags=["admin catalog"])

CatalogWriter = Annotated[AuthUser, Depends(require_permission("catalog:write"))]
CatalogReader = Annotated[AuthUser, Depends(require_permission("catalog:read"))]


# --- shapes --------------------------------------------------------------------------------


class MoneyIn(BaseModel):
    amount: StrictInt = Field(description="Minor units (cents): 1999 is $19.99.")
    currency: str | None = Field(
        default=None, description="ISO 4217 code (cad, usd …); omitted: unchanged (new: cad)."
    )


class CategoryRef(BaseModel):
    slug: str


class ProductIn(BaseModel):
    """The fields of `GET /api/products/{id}` that can be written; omitted ones stay as they are
    on PUT. Read-only fields of the GET shape (id, url, image_url …) are accepted and ignored, so
    a client may send back what it read."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    slug: str | None = None
    description: str | None = Field(default=None, description="Markdown.")
    price: MoneyIn | None = None
    kind: Literal["one_time", "subscription"] | None = None
    interval: Literal["month", "year"] | None = None
    category: str | CategoryRef | None = Field(default=None, description="Category slug.")
    seo_title: str | None = None
    seo_description: str | None = None
    inventory_count: StrictInt | None = Field(default=None, description="null = unlimited.")
    download_limit: StrictInt | None = Field(default=None, description="null = shop default.")
    download_days: StrictInt | None = Field(
        default=None, description="Days a purchase can be downloaded; null = shop default."
    )
    is_active: StrictBool | None = None
    is_featured: StrictBool | None = None
    is_tax_exempt: StrictBool | None = None

    def service_fields(self) -> dict[str, Any]:
        """Only what the client sent (so PUT can change one field), in the service's names."""
        sent = self.model_fields_set
        fields: dict[str, Any] = {}
        for name in sent:
            value = getattr(self, name)
            if name == "price":
                if value is None:
                    raise InvalidInput("price is required.", field="price")
                fields["price_amount"] = value.amount
                if value.currency is not None:
                    fields["currency"] = value.currency
            elif name == "category":
                fields["category"] = value.slug if isinstance(value, CategoryRef) else value
            elif name in ("is_active", "is_featured", "is_tax_exempt") and value is None:
                raise InvalidInput(f"{name} must be true or false.", field=name)
            else:
                fields[name] = value
        return fields


class ProductFileOut(BaseModel):
    id: int
    original_name: str
    content_type: str
    size: int
    sha256: str


class AdminProductOut(BaseModel):
    """The public product shape plus what only the admin sees."""

    id: int
    slug: str
    name: str
    description: str
    description_html: str
    price: Money
    kind: Literal["one_time", "subscription"]
    interval: Literal["month", "year"] | None = None
    category: CategoryOut | None
    image_url: str | None
    image_thumbnail_url: str | None
    url: str
    seo_title: str | None
    seo_description: str | None
    inventory_count: int | None
    download_limit: int | None
    download_days: int | None
    effective_download_limit: int
    effective_download_days: int
    is_active: bool
    is_featured: bool
    is_tax_exempt: bool
    sync_status: str
    sync_error: str | None
    stripe_product_id: str | None
    stripe_price_id: str | None
    files: list[ProductFileOut]


class AdminProductList(BaseModel):
    items: list[AdminProductOut]
    next_cursor: str | None
    total: int


class DeleteOut(BaseModel):
    id: int
    outcome: Literal["deleted", "archived"]
    message: str


class CategoryIn(BaseModel):
    name: str
    slug: str | None = None


class CategoryOrderIn(BaseModel):
    ordered_ids: list[Annotated[RowId, Strict()]]


class AdminCategoryOut(BaseModel):
    id: int
    slug: str
    name: str
    position: int


class AdminCategoryListedOut(AdminCategoryOut):
    product_count: int  # archived products included: a category holding any is not deleted


def _file_out(file: ProductFile) -> ProductFileOut:
    return ProductFileOut(
        id=file.id or 0,
        original_name=file.original_name,
        content_type=file.content_type,
        size=file.size_bytes,
        sha256=file.sha256,
    )


def _product_out(session: Session, product: Product) -> AdminProductOut:
    assert product.id is not None
    category = products_admin.product_category(session=session, product=product)
    files = products_admin.product_files(session=session, product_id=product.id)
    limit, days = products_admin.download_policy(product)
    return AdminProductOut(
        id=product.id,
        slug=product.slug,
        name=product.name,
        description=product.description,
        description_html=render_description_html(product.description),
        price=Money(amount=product.price_amount, currency=product.currency),
        kind=product.kind,  # type: ignore[arg-type]
        interval=product.interval,  # type: ignore[arg-type]
        category=CategoryOut(slug=category.slug, name=category.name) if category else None,
        image_url=f"/media/{product.image_path}" if product.image_path else None,
        image_thumbnail_url=(
            f"/media/{product.image_thumbnail_path}" if product.image_thumbnail_path else None
        ),
        url=f"/products/{product.slug}",
        seo_title=product.seo_title,
        seo_description=product.seo_description,
        inventory_count=product.inventory_count,
        download_limit=product.download_limit,
        download_days=product.download_days,
        effective_download_limit=limit,
        effective_download_days=days,
        is_active=product.is_active,
        is_featured=product.is_featured,
        is_tax_exempt=product.is_tax_exempt,
        sync_status=product.sync_status,
        sync_error=product.sync_error,
        stripe_product_id=product.stripe_product_id,
        stripe_price_id=product.stripe_price_id,
        files=[_file_out(f) for f in files],
    )


def _answer(product_id: int) -> AdminProductOut:
    with session_scope() as session:
        product = products_admin.get_product(session=session, product_id=product_id)
        return _product_out(session, product)


def _push_to_stripe(product_id: int) -> None:
    """After commit: bring Stripe up to date; an outage only leaves the product not_synced
    (the API client waits for the answer: a hanging Stripe is given seconds, not minutes)."""
    with stripe_api.someone_waits(), session_scope() as session:
        catalog_sync.sync_product(session=session, product_id=product_id)


# --- products ------------------------------------------------------------------------------


@router.post("/api/products", status_code=201, response_model=AdminProductOut)
def create_product(
    body: ProductIn, user: CatalogWriter, request: Request, response: Response
) -> AdminProductOut:
    with session_scope() as session:
        product = products_admin.create_product(
            session=session, fields=body.service_fields(), actor=user, ip=client_ip(request)
        )
        product_id = product.id or 0
    _push_to_stripe(product_id)
    response.headers["Location"] = f"/api/admin/products/{product_id}"
    return _answer(product_id)


@router.put("/api/products/{product_id}", response_model=AdminProductOut)
def update_product(
    product_id: ProductId, body: ProductIn, user: CatalogWriter, request: Request
) -> AdminProductOut:
    with session_scope() as session:
        product = products_admin.update_product(
            session=session,
            product_id=product_id,
            fields=body.service_fields(),
            actor=user,
            ip=client_ip(request),
        )
        needs_sync = product.sync_status != "synced"
    if needs_sync:
        _push_to_stripe(product_id)
    return _answer(product_id)


@router.delete("/api/products/{product_id}", response_model=DeleteOut)
def delete_product(product_id: ProductId, user: CatalogWriter, request: Request) -> DeleteOut:
    """Deletes a product nobody bought; one with orders or subscriptions is archived instead."""
    with session_scope() as session:
        product = products_admin.get_product(session=session, product_id=product_id)
        stripe_ids = (product.stripe_product_id, product.stripe_price_id)
        name = product.name
        outcome = products_admin.delete_product(
            session=session, product_id=product_id, actor=user, ip=client_ip(request)
        )
    if outcome.outcome == "archived":
        _push_to_stripe(product_id)
    elif stripe_ids[0]:
        catalog_sync.archive_remote(
            product_id=product_id,
            name=name,
            stripe_product_id=stripe_ids[0],
            stripe_price_id=stripe_ids[1],
        )
    return DeleteOut(id=product_id, outcome=outcome.outcome, message=outcome.message)


@router.get("/api/admin/products", response_model=AdminProductList)
def list_admin_products(
    _user: CatalogReader,
    q: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=120)] = None,
    is_active: bool | None = None,
    kind: Literal["one_time", "subscription"] | None = None,
    sync_status: Literal["pending", "synced", "not_synced"] | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=PAGE_SIZE_CEILING, description=PAGE_SIZE_HELP)
    ] = None,
) -> AdminProductList:
    limit = page_size(limit, default=25)
    with session_scope() as session:
        page = products_admin.list_products(
            session=session,
            q=q,
            category=category,
            is_active=is_active,
            kind=kind,
            sync_status=sync_status,
            cursor=cursor,
            limit=limit,
        )
        items = [_product_out(session, product) for product, _ in page.items]
    return AdminProductList(items=items, next_cursor=page.next_cursor, total=page.total)


@router.get("/api/admin/products/{product_id}", response_model=AdminProductOut)
def get_admin_product(product_id: ProductId, _user: CatalogReader) -> AdminProductOut:
    return _answer(product_id)


# --- uploads -------------------------------------------------------------------------------


def _require_product(product_id: int) -> None:
    with session_scope() as session:
        products_admin.get_product(session=session, product_id=product_id)


def _suffix_of(filename: str) -> str:
    name = products_admin.clean_file_name(filename)
    return name[name.rfind(".") :] if "." in name else ""


@router.post(
    "/api/products/{product_id}/files",
    status_code=201,
    response_model=ProductFileOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
@body_limit(None)  # UPLOAD_MAX_FILE_BYTES, enforced below while the body streams
async def upload_product_file(
    product_id: ProductId, user: CatalogWriter, request: Request
) -> ProductFileOut:
    """Attach a downloadable file (field `file`), streamed into storage under a generated name."""
    limit = get_settings().upload_max_file_bytes
    uploads.check_declared_length(request.headers.get("content-length"), limit=limit)
    await run_in_threadpool(_require_product, product_id)
    backend = storage.get_storage()
    sink, received = await uploads.receive_file(
        request.stream(),
        content_type=request.headers.get("content-type"),
        content_length=request.headers.get("content-length"),
        limit=limit,
        open_sink=lambda name, ctype: backend.open_writer(
            suffix=_suffix_of(name), content_type=ctype
        ),
    )
    writer: storage.StorageWriter = sink  # type: ignore[assignment]
    if received.size_bytes == 0:
        await run_in_threadpool(writer.abort)
        raise InvalidInput("The file is empty.", field="file")
    try:
        stored = await run_in_threadpool(writer.commit)
    except BaseException:
        await run_in_threadpool(writer.abort)
        raise

    def record() -> ProductFileOut:
        with session_scope() as session:
            file = products_admin.attach_file(
                session=session,
                product_id=product_id,
                stored=stored,
                original_name=received.filename,
                content_type=received.content_type,
                actor=user,
                ip=client_ip(request),
            )
            return _file_out(file)

    try:
        return await run_in_threadpool(record)
    except BaseException:
        await run_in_threadpool(backend.delete, stored.key)
        raise


@router.delete("/api/products/{product_id}/files/{file_id}", status_code=204)
def delete_product_file(
    product_id: ProductId, file_id: ProductFileId, user: CatalogWriter, request: Request
) -> Response:
    with session_scope() as session:
        products_admin.remove_file(
            session=session,
            product_id=product_id,
            file_id=file_id,
            actor=user,
            ip=client_ip(request),
        )
    return Response(status_code=204)


@router.post(
    "/api/products/{product_id}/image",
    response_model=AdminProductOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
@body_limit(None)  # UPLOAD_MAX_IMAGE_BYTES, enforced below while the body streams
async def upload_product_image(
    product_id: ProductId, user: CatalogWriter, request: Request
) -> AdminProductOut:
    """Set the product image (field `file`: PNG, JPEG or WebP), stored as WebP in two sizes."""
    limit = get_settings().upload_max_image_bytes
    uploads.check_declared_length(request.headers.get("content-length"), limit=limit)
    await run_in_threadpool(_require_product, product_id)
    sink, _received = await uploads.receive_file(
        request.stream(),
        content_type=request.headers.get("content-type"),
        content_length=request.headers.get("content-length"),
        limit=limit,
        open_sink=lambda _name, _ctype: uploads.SpooledSink(),
    )
    spooled: uploads.SpooledSink = sink  # type: ignore[assignment]

    def process() -> None:
        try:
            written = images.store_product_image(spooled.rewound(), product_id=product_id)
        finally:
            spooled.abort()
        try:
            with session_scope() as session:
                products_admin.set_image(
                    session=session,
                    product_id=product_id,
                    large_path=written.large_path,
                    thumbnail_path=written.thumbnail_path,
                    actor=user,
                    ip=client_ip(request),
                )
        except BaseException:
            images.remove_media([written.large_path, written.thumbnail_path])
            raise

    await run_in_threadpool(process)
    await run_in_threadpool(_push_to_stripe, product_id)
    return await run_in_threadpool(_answer, product_id)


# --- categories ----------------------------------------------------------------------------


def _category_out(category: Category) -> AdminCategoryOut:
    return AdminCategoryOut(
        id=category.id or 0, slug=category.slug, name=category.name, position=category.position
    )


@router.get(
    "/api/admin/categories",
    response_model=list[AdminCategoryListedOut],
    summary="List the categories",
    description="Every category in the storefront's order, with how many products it holds.",
)
def list_categories(user: CatalogReader) -> list[AdminCategoryListedOut]:
    with session_scope() as session:
        return [
            AdminCategoryListedOut(
                id=c.id,
                slug=c.slug,
                name=c.name,
                position=c.position,
                product_count=c.product_count,
            )
            for c in categories.category_overview(session=session)
        ]


@router.post("/api/admin/categories", status_code=201, response_model=AdminCategoryOut)
def create_category(body: CategoryIn, user: CatalogWriter, request: Request) -> AdminCategoryOut:
    with session_scope() as session:
        category = categories.create_category(
            session=session, name=body.name, slug=body.slug, actor=user
        )
        return _category_out(category)


@router.put("/api/admin/categories/order", response_model=list[AdminCategoryOut])
def reorder_categories(body: CategoryOrderIn, user: CatalogWriter) -> list[AdminCategoryOut]:
    with session_scope() as session:
        ordered = categories.reorder_categories(
            session=session, ordered_ids=body.ordered_ids, actor=user
        )
        return [_category_out(c) for c in ordered]


@router.put("/api/admin/categories/{category_id}", response_model=AdminCategoryOut)
def rename_category(
    category_id: CategoryId, body: CategoryIn, user: CatalogWriter
) -> AdminCategoryOut:
    with session_scope() as session:
        category = categories.rename_category(
            session=session, category_id=category_id, name=body.name, slug=body.slug, actor=user
        )
        return _category_out(category)


@router.delete("/api/admin/categories/{category_id}", status_code=204)
def delete_category(category_id: CategoryId, user: CatalogWriter) -> Response:
    with session_scope() as session:
        categories.delete_category(session=session, category_id=category_id, actor=user)
    return Response(status_code=204)
