"""The admin side of the catalog: create, edit, archive and delete products, attach files/images.

Rules (the admin UI and the REST API both come here):
- `name` 1-200 characters; `slug` generated from the name (made unique with -2, -3 …) unless
  given; a given slug must be free (409 `slug`), lower-case words joined by hyphens, and not
  all digits (numbers address products by id).
- Price: `price_amount` in minor units, 1 ≤ amount ≤ 99,999,999 (Stripe's ceiling). Free
  products are refused: checkout always goes through a PaymentIntent, and Stripe has no
  zero-amount charge. `currency` is an ISO 4217 code (`money.is_currency`, the rule promo
  codes follow), stored lower case: a made-up code like "ZZZ" would only fail at checkout.
- `kind` is `one_time` or `subscription`; subscriptions need `interval` `month` or `year`, one-time
  products must not have one (switching to `one_time` clears it).
- `category` by slug or id, or None. SEO title ≤ 70 and description ≤ 160 characters (what
  search engines show). `inventory_count` None = unlimited, else ≥ 0 (0 = sold out).
  `download_limit` (1-1000) and `download_days` (1-3650): None = the shop defaults from settings.
- Every field is checked before refusing: one InvalidInput lists all problems (`problems`,
  the API's 422 `details`); a taken slug on its own stays a 409.
- Delete only when no order or subscription refers to the product; otherwise it is archived
  and the answer says so. Every change goes through `catalog_changed` (audit + cache bump) and
  marks the product for Stripe sync (`sync_status="pending"`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shop.models import Category, OrderItem, Product, ProductFile, PromoCode, Subscription
from shop.models.catalog import BillingInterval, ProductKind, SyncStatus
from shop.services import storage
from shop.services.audit import Actor
from shop.services.catalog import decode_cursor, encode_cursor, search_condition
from shop.services.catalog_events import after_commit, catalog_changed
from shop.services.categories import get_category
from shop.services.errors import Conflict, InvalidInput, NotFound, Problem, ShopError, refusal
from shop.services.money import is_currency
from shop.services.slugs import slug_problem, slugify
from shop.settings import get_settings

NAME_MAX = 200
SLUG_MAX = 160
DESCRIPTION_MAX = 20_000
PRICE_MIN = 1
PRICE_MAX = 99_999_999
SEO_TITLE_MAX = 70
SEO_DESCRIPTION_MAX = 160
INVENTORY_MAX = 1_000_000_000
DOWNLOAD_LIMIT_MAX = 1000
DOWNLOAD_DAYS_MAX = 3650
ORIGINAL_NAME_MAX = 255

EDITABLE_FIELDS = frozenset(
    {
        "name",
        "slug",
        "description",
        "price_amount",
        "currency",
        "kind",
        "interval",
        "category",
        "seo_title",
        "seo_description",
        "inventory_count",
        "download_limit",
        "download_days",
        "is_active",
        "is_featured",
        "is_tax_exempt",
    }
)


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    product_id: int
    outcome: Literal["deleted", "archived"]
    message: str


@dataclass(frozen=True, slots=True)
class AdminProductPage:
    items: list[tuple[Product, Category | None]]
    next_cursor: str | None
    total: int


# --- reading -------------------------------------------------------------------------------


def get_product(*, session: Session, product_id: int) -> Product:
    """Any product, archived ones included."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product {product_id}.")
    return product


def product_category(*, session: Session, product: Product) -> Category | None:
    """The category `product` is filed under, or None when it has none."""
    if not product.category_id:
        return None
    return session.get(Category, product.category_id)


def product_files(*, session: Session, product_id: int) -> list[ProductFile]:
    return list(
        session.exec(
            select(ProductFile)
            .where(ProductFile.product_id == product_id)
            .order_by(col(ProductFile.id))
        ).all()
    )


def download_policy(product: Product) -> tuple[int, int]:
    """(downloads allowed, days a link lives) for this product, falling back to settings."""
    settings = get_settings()
    return (
        product.download_limit or settings.default_download_limit,
        product.download_days or settings.default_download_days,
    )


def list_products(
    *,
    session: Session,
    q: str | None = None,
    category: str | None = None,
    is_active: bool | None = None,
    kind: str | None = None,
    sync_status: str | None = None,
    cursor: str | None = None,
    limit: int = 25,
) -> AdminProductPage:
    """Every product (archived too) for the admin list: search, filters, cursor pages."""
    if limit < 1:  # the API caps it at API_PAGE_SIZE_MAX
        raise InvalidInput("limit must be at least 1.", field="limit")
    filters: list[Any] = []
    if category:
        filters.append(col(Category.slug) == category)
    if is_active is not None:
        filters.append(col(Product.is_active).is_(is_active))
    if kind:
        filters.append(col(Product.kind) == kind)
    if sync_status:
        filters.append(col(Product.sync_status) == sync_status)
    search = search_condition(q)  # name, slug or description; case and accents ignored
    if search is not None:
        filters.append(search)
    join = (Category, col(Product.category_id) == col(Category.id))
    total = session.exec(
        select(func.count(col(Product.id)))
        .select_from(Product)
        .join(*join, isouter=True)
        .where(*filters)
    ).one()
    statement = select(Product, Category).join(*join, isouter=True).where(*filters)
    if cursor:
        statement = statement.where(col(Product.id) < decode_cursor(cursor))
    rows = session.exec(statement.order_by(col(Product.id).desc()).limit(limit + 1)).all()
    items: list[tuple[Product, Category | None]] = [(p, c) for p, c in rows[:limit]]
    last_id = items[-1][0].id if items else None
    next_cursor = encode_cursor(last_id) if len(rows) > limit and last_id else None
    return AdminProductPage(items=items, next_cursor=next_cursor, total=int(total))


# --- validation ----------------------------------------------------------------------------


def _text(value: Any, *, field: str, max_length: int, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(f"{field} is required.", field=field)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text.", field=field)
    value = value.strip()
    if not value:
        if required:
            raise InvalidInput(f"{field} must not be empty.", field=field)
        return None
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters.", field=field)
    return value


def _int(value: Any, *, field: str, low: int, high: int, nullable: bool) -> int | None:
    if value is None:
        if nullable:
            return None
        raise InvalidInput(f"{field} is required.", field=field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number.", field=field)
    if not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low:,} and {high:,}.", field=field)
    return value


def _bool(value: Any, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be true or false.", field=field)
    return value


def _slug_taken(session: Session, slug: str, *, except_id: int | None) -> bool:
    statement = select(Product.id).where(Product.slug == slug)
    if except_id is not None:
        statement = statement.where(col(Product.id) != except_id)
    return session.exec(statement).first() is not None


def _free_slug(session: Session, name: str, *, except_id: int | None) -> str:
    base = slugify(name, max_length=SLUG_MAX) or "product"
    if base.isdigit():
        base = f"product-{base}"[:SLUG_MAX]
    slug, n = base, 2
    while _slug_taken(session, slug, except_id=except_id):
        suffix = f"-{n}"
        slug, n = base[: SLUG_MAX - len(suffix)] + suffix, n + 1
    return slug


# Checks one field of `fields` (when present) and sets it on the product, or raises.
Setter = Callable[[Session, Product, Mapping[str, Any]], None]


def _set_name(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "name" in fields:
        product.name = _text(fields["name"], field="name", max_length=NAME_MAX, required=True) or ""


def _set_slug(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "slug" in fields and fields["slug"] not in (None, ""):
        slug = fields["slug"]
        if not isinstance(slug, str):
            raise InvalidInput("slug must be text.", field="slug")
        slug = slug.strip()
        if slug != product.slug:
            problem = slug_problem(slug, max_length=SLUG_MAX)
            if problem:
                raise InvalidInput(problem, field="slug")
            if _slug_taken(session, slug, except_id=product.id):
                raise Conflict(f"Another product already uses the slug {slug!r}.", field="slug")
            product.slug = slug
    elif not product.slug:
        product.slug = _free_slug(session, product.name, except_id=product.id)


def _set_description(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "description" in fields:
        description = fields["description"] if fields["description"] is not None else ""
        if not isinstance(description, str):
            raise InvalidInput("description must be text.", field="description")
        if len(description) > DESCRIPTION_MAX:
            raise InvalidInput(
                f"description must be at most {DESCRIPTION_MAX:,} characters.",
                field="description",
            )
        product.description = description.strip()


def _set_price(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "price_amount" in fields:
        product.price_amount = (
            _int(
                fields["price_amount"],
                field="price.amount",
                low=PRICE_MIN,
                high=PRICE_MAX,
                nullable=False,
            )
            or 0
        )


def _set_currency(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "currency" in fields:
        currency = fields["currency"]
        if not isinstance(currency, str) or not is_currency(currency.strip()):
            raise InvalidInput(
                "currency must be an ISO 4217 currency code such as 'cad'.",
                field="price.currency",
            )
        product.currency = currency.strip().lower()


def _set_kind(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "kind" in fields:
        kinds = {k.value for k in ProductKind}
        if fields["kind"] not in kinds:
            raise InvalidInput("kind must be 'one_time' or 'subscription'.", field="kind")
        product.kind = fields["kind"]


def _set_interval(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "interval" in fields:
        intervals = {i.value for i in BillingInterval}
        if fields["interval"] is not None and fields["interval"] not in intervals:
            raise InvalidInput("interval must be 'month' or 'year'.", field="interval")
        product.interval = fields["interval"]


def _match_kind_and_interval(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if product.kind == ProductKind.SUBSCRIPTION.value and product.interval is None:
        raise InvalidInput("A subscription needs an interval: 'month' or 'year'.", field="interval")
    if product.kind == ProductKind.ONE_TIME.value and product.interval is not None:
        if "interval" in fields:
            raise InvalidInput("A one-time product has no interval.", field="interval")
        product.interval = None


def _set_category(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "category" in fields:
        value = fields["category"]
        if value is None or value == "":
            product.category_id = None
        else:
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise InvalidInput("category must be a category slug.", field="category")
            try:
                product.category_id = get_category(session=session, id_or_slug=value).id
            except NotFound as exc:
                raise InvalidInput(f"No category {value!r}.", field="category") from exc


def _set_seo_title(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "seo_title" in fields:
        product.seo_title = _text(fields["seo_title"], field="seo_title", max_length=SEO_TITLE_MAX)


def _set_seo_description(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "seo_description" in fields:
        product.seo_description = _text(
            fields["seo_description"], field="seo_description", max_length=SEO_DESCRIPTION_MAX
        )


def _set_inventory(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "inventory_count" in fields:
        product.inventory_count = _int(
            fields["inventory_count"],
            field="inventory_count",
            low=0,
            high=INVENTORY_MAX,
            nullable=True,
        )


def _set_download_limit(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "download_limit" in fields:
        product.download_limit = _int(
            fields["download_limit"],
            field="download_limit",
            low=1,
            high=DOWNLOAD_LIMIT_MAX,
            nullable=True,
        )


def _set_download_days(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
    if "download_days" in fields:
        product.download_days = _int(
            fields["download_days"],
            field="download_days",
            low=1,
            high=DOWNLOAD_DAYS_MAX,
            nullable=True,
        )


def _flag_setter(flag: str) -> Setter:
    def set_flag(session: Session, product: Product, fields: Mapping[str, Any]) -> None:
        if flag in fields:
            setattr(product, flag, _bool(fields[flag], field=flag))

    return set_flag


# In the order the admin form shows the fields, so problems are listed top to bottom.
_SETTERS: list[Setter] = [
    _set_name,
    _set_slug,
    _set_description,
    _set_price,
    _set_currency,
    _set_kind,
    _set_interval,
    _match_kind_and_interval,
    _set_category,
    _set_seo_title,
    _set_seo_description,
    _set_inventory,
    _set_download_limit,
    _set_download_days,
    *(_flag_setter(flag) for flag in ("is_active", "is_featured", "is_tax_exempt")),
]


def _apply(session: Session, product: Product, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and set `fields` on `product`; returns {field: [old, new]} of what changed.

    Every field is checked before anything is refused, so whoever sent them learns of all
    their problems at once (`errors.refusal`) instead of one per attempt."""
    before = {name: getattr(product, name, None) for name in EDITABLE_FIELDS}
    before["category"] = product.category_id
    found: list[ShopError] = [
        InvalidInput(f"{name} cannot be set here.", field=name)
        for name in sorted(set(fields) - EDITABLE_FIELDS)
    ]
    for setter in _SETTERS:
        # Whether kind and interval agree means nothing when either of them is invalid.
        if setter is _match_kind_and_interval and any(
            e.field in ("kind", "interval") for e in found
        ):
            continue
        try:
            setter(session, product, fields)
        except (InvalidInput, Conflict) as exc:
            found.append(exc)
    if found:
        raise refusal(found)
    after = {name: getattr(product, name, None) for name in EDITABLE_FIELDS}
    after["category"] = product.category_id
    return {name: [before[name], after[name]] for name in after if before[name] != after[name]}


def _flush_product(session: Session, product: Product) -> None:
    """Flush, turning a slug taken by a concurrent writer (unique index) into a clear 409."""
    try:
        session.flush()
    except IntegrityError as exc:
        if "slug" not in str(exc.orig).lower():
            raise
        raise Conflict(
            f"Another product already uses the slug {product.slug!r}.", field="slug"
        ) from exc


def _mark_for_sync(product: Product) -> None:
    product.sync_revision = (product.sync_revision or 0) + 1
    product.sync_status = SyncStatus.PENDING.value
    product.sync_error = None


# --- writing -------------------------------------------------------------------------------


def create_product(
    *,
    session: Session,
    fields: Mapping[str, Any],
    actor: Actor | None = None,
    ip: str | None = None,
) -> Product:
    """A new product from `fields` (see the module doc); name and price are required."""
    product = Product(name="", slug="", price_amount=0)
    _apply(session, product, _new_product_fields(fields))
    _mark_for_sync(product)
    session.add(product)
    _flush_product(session, product)
    catalog_changed(
        session=session,
        action="catalog.product.create",
        target=f"product:{product.id}",
        actor=actor,
        ip=ip,
        details={"slug": product.slug, "name": product.name},
    )
    return product


def _new_product_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    # A missing name or price is then refused by _apply together with any other problem.
    values = {"name": None, "price_amount": None, **fields}
    if not values.get("slug"):
        values.pop("slug", None)
    return values


def check_product(
    *, session: Session, product_id: int | None, fields: Mapping[str, Any]
) -> tuple[Problem, ...]:
    """What `create_product` (product_id None) or `update_product` would refuse in `fields`,
    writing nothing: for a form that found problems of its own and shows all of them at once."""
    if product_id:
        stored = get_product(session=session, product_id=product_id)
        # A copy outside the session, so the checks' queries cannot flush half-set fields.
        product = Product(**stored.model_dump())
        values = dict(fields)
    else:
        product = Product(name="", slug="", price_amount=0)
        values = _new_product_fields(fields)
    try:
        with session.no_autoflush:
            _apply(session, product, values)
    except ShopError as exc:
        return exc.problems
    return ()


def update_product(
    *,
    session: Session,
    product_id: int,
    fields: Mapping[str, Any],
    actor: Actor | None = None,
    ip: str | None = None,
) -> Product:
    """Change the given fields only; an unchanged product is left as it was."""
    product = get_product(session=session, product_id=product_id)
    changes = _apply(session, product, fields)
    if not changes:
        return product
    _mark_for_sync(product)
    session.add(product)
    _flush_product(session, product)
    catalog_changed(
        session=session,
        action="catalog.product.update",
        target=f"product:{product.id}",
        actor=actor,
        ip=ip,
        details={"changes": changes},
    )
    return product


def archive_product(
    *, session: Session, product_id: int, actor: Actor | None = None, ip: str | None = None
) -> Product:
    """Take a product off the storefront (kept for orders, downloads and reports)."""
    product = get_product(session=session, product_id=product_id)
    if product.is_active:
        product.is_active = False
        _mark_for_sync(product)
        session.add(product)
        session.flush()
        catalog_changed(
            session=session,
            action="catalog.product.archive",
            target=f"product:{product.id}",
            actor=actor,
            ip=ip,
            details={"slug": product.slug},
        )
    return product


def references(*, session: Session, product_id: int) -> int:
    """How many order lines, subscriptions and promo codes point at this product. A promo code
    limited to it counts: were the product deleted, its id could be given again (SQLite reuses
    the highest) and the code would discount whatever product got it."""
    orders = session.exec(
        select(func.count(col(OrderItem.id))).where(OrderItem.product_id == product_id)
    ).one()
    subscriptions = session.exec(
        select(func.count(col(Subscription.id))).where(Subscription.product_id == product_id)
    ).one()
    promo_codes = sum(
        product_id in (ids or []) for ids in session.exec(select(PromoCode.product_ids)).all()
    )
    return int(orders) + int(subscriptions) + promo_codes


def delete_product(
    *, session: Session, product_id: int, actor: Actor | None = None, ip: str | None = None
) -> DeleteOutcome:
    """Delete a product nothing refers to; one with orders, subscriptions or promo codes limited
    to it is archived."""
    product = get_product(session=session, product_id=product_id)
    used = references(session=session, product_id=product_id)
    if used:
        archive_product(session=session, product_id=product_id, actor=actor, ip=ip)
        return DeleteOutcome(
            product_id=product_id,
            outcome="archived",
            message=(
                f"Orders, subscriptions or promo codes refer to this product ({used}), so it was "
                "archived instead: it left the storefront and stays available to its buyers."
            ),
        )
    files = product_files(session=session, product_id=product_id)
    keys = [f.storage_key for f in files]
    images = [p for p in (product.image_path, product.image_thumbnail_path) if p]
    for file in files:
        session.delete(file)
    session.flush()
    session.delete(product)
    session.flush()
    catalog_changed(
        session=session,
        action="catalog.product.delete",
        target=f"product:{product_id}",
        actor=actor,
        ip=ip,
        details={
            "slug": product.slug,
            "name": product.name,
            "stripe_product_id": product.stripe_product_id,
        },
    )
    after_commit(session, lambda: _remove_blobs(keys, images))
    return DeleteOutcome(product_id=product_id, outcome="deleted", message="Product deleted.")


def attach_file(
    *,
    session: Session,
    product_id: int,
    stored: storage.StoredFile,
    original_name: str,
    content_type: str,
    actor: Actor | None = None,
    ip: str | None = None,
) -> ProductFile:
    """Record an already stored upload as one of the product's downloadable files."""
    product = get_product(session=session, product_id=product_id)
    name = clean_file_name(original_name)
    file = ProductFile(
        product_id=product.id or 0,
        storage_key=stored.key,
        original_name=name,
        content_type=(content_type or "application/octet-stream")[:255],
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
    )
    session.add(file)
    session.flush()
    catalog_changed(
        session=session,
        action="catalog.product.file_add",
        target=f"product:{product.id}",
        actor=actor,
        ip=ip,
        details={
            "file_id": file.id,
            "name": name,
            "size": stored.size_bytes,
            "sha256": stored.sha256,
        },
    )
    return file


def remove_file(
    *,
    session: Session,
    product_id: int,
    file_id: int,
    actor: Actor | None = None,
    ip: str | None = None,
) -> None:
    from shop.models.checkout import DownloadGrant

    file = session.get(ProductFile, file_id)
    if file is None or file.product_id != product_id:
        raise NotFound(f"No file {file_id} on product {product_id}.")
    granted = session.exec(
        select(DownloadGrant.id).where(DownloadGrant.product_file_id == file_id).limit(1)
    ).first()
    if granted is not None:
        raise Conflict(
            "Customers have bought this file; upload a new version instead of removing it.",
            field="file",
        )
    key = file.storage_key
    session.delete(file)
    session.flush()
    catalog_changed(
        session=session,
        action="catalog.product.file_remove",
        target=f"product:{product_id}",
        actor=actor,
        ip=ip,
        details={"file_id": file_id, "name": file.original_name},
    )
    after_commit(session, lambda: _remove_blobs([key], []))


def set_image(
    *,
    session: Session,
    product_id: int,
    large_path: str,
    thumbnail_path: str,
    actor: Actor | None = None,
    ip: str | None = None,
) -> Product:
    """Point the product at newly written images (paths under the media folder)."""
    product = get_product(session=session, product_id=product_id)
    old = [p for p in (product.image_path, product.image_thumbnail_path) if p]
    product.image_path = large_path
    product.image_thumbnail_path = thumbnail_path
    _mark_for_sync(product)
    session.add(product)
    session.flush()
    catalog_changed(
        session=session,
        action="catalog.product.image",
        target=f"product:{product.id}",
        actor=actor,
        ip=ip,
        details={"image": large_path},
    )
    stale = [p for p in old if p not in (large_path, thumbnail_path)]
    if stale:
        after_commit(session, lambda: _remove_blobs([], stale))
    return product


def clean_file_name(name: str) -> str:
    """The name a buyer sees: no folders, no control characters, at most 255 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    if not name:
        return "download"
    if len(name) > ORIGINAL_NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: ORIGINAL_NAME_MAX - len(ext) - 1] + "." + ext
        else:
            name = name[:ORIGINAL_NAME_MAX]
    return name


def _remove_blobs(keys: list[str], media_paths: list[str]) -> None:
    """Best effort after commit: a leftover blob wastes space, a missing one would break."""
    for key in keys:
        # Cleanup must not turn a committed change into an error.
        with contextlib.suppress(Exception):
            storage.delete(key)
    media_root = get_settings().media_dir().resolve()
    for relative in media_paths:
        path = (media_root / relative).resolve()
        if media_root in path.parents and relative.startswith("products/"):
            path.unlink(missing_ok=True)
