"""Categories (the shelves of the catalog): create, rename, reorder, delete when empty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from shop.models import Category, Product
from shop.services import ids
from shop.services.audit import Actor
from shop.services.catalog_events import catalog_changed
from shop.services.errors import Conflict, InvalidInput, NotFound
from shop.services.slugs import slug_problem, slugify

NAME_MAX = 120
SLUG_MAX = 120


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("The category needs a name.", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"The name must be at most {NAME_MAX} characters.", field="name")
    return name


def _slug_taken(session: Session, slug: str, *, except_id: int | None = None) -> bool:
    statement = select(Category.id).where(Category.slug == slug)
    if except_id is not None:
        statement = statement.where(col(Category.id) != except_id)
    return session.exec(statement).first() is not None


def _refuse_a_taken_name(session: Session, name: str, *, except_id: int | None = None) -> None:
    """Two categories of one name would be two links of one name in the storefront's menu."""
    statement = select(Category.id).where(func.lower(Category.name) == name.lower())
    if except_id is not None:
        statement = statement.where(col(Category.id) != except_id)
    if session.exec(statement).first() is not None:
        raise Conflict(f"There is a category named “{name}” already.", field="name")


def get_category(*, session: Session, id_or_slug: int | str) -> Category:
    if isinstance(id_or_slug, int) or str(id_or_slug).isdigit():
        category = ids.get_row(session, Category, id_or_slug)
    else:
        category = session.exec(select(Category).where(Category.slug == id_or_slug)).first()
    if category is None:
        raise NotFound(f"No category {id_or_slug!r}.")
    return category


def create_category(
    *, session: Session, name: str, slug: str | None = None, actor: Actor | None = None
) -> Category:
    """A new category at the end of the list; the slug comes from the name unless given."""
    name = _clean_name(name)
    _refuse_a_taken_name(session, name)
    if slug is None or not slug.strip():
        base = slugify(name, max_length=SLUG_MAX) or "category"
        slug, n = base, 2
        while _slug_taken(session, slug):
            suffix = f"-{n}"
            slug, n = base[: SLUG_MAX - len(suffix)] + suffix, n + 1
    else:
        slug = slug.strip()
        problem = slug_problem(slug, max_length=SLUG_MAX)
        if problem:
            raise InvalidInput(problem, field="slug")
        if _slug_taken(session, slug):
            raise Conflict(f"Another category already uses the slug {slug!r}.", field="slug")
    last = session.exec(select(func.max(Category.position))).one()
    category = Category(name=name, slug=slug, position=(last or 0) + 1)
    session.add(category)
    session.flush()
    catalog_changed(
        session=session,
        action="catalog.category.create",
        target=f"category:{category.id}",
        actor=actor,
        details={"slug": slug, "name": name},
    )
    return category


def rename_category(
    *,
    session: Session,
    category_id: int,
    name: str,
    slug: str | None = None,
    actor: Actor | None = None,
) -> Category:
    """New name (and, when given, a new slug; the old slug stops working)."""
    category = get_category(session=session, id_or_slug=category_id)
    before = {"name": category.name, "slug": category.slug}
    new_name = _clean_name(name)
    _refuse_a_taken_name(session, new_name, except_id=category.id)
    category.name = new_name
    if slug is not None and slug != category.slug:
        problem = slug_problem(slug, max_length=SLUG_MAX)
        if problem:
            raise InvalidInput(problem, field="slug")
        if _slug_taken(session, slug, except_id=category.id):
            raise Conflict(f"Another category already uses the slug {slug!r}.", field="slug")
        category.slug = slug
    session.add(category)
    session.flush()
    catalog_changed(
        session=session,
        action="catalog.category.rename",
        target=f"category:{category.id}",
        actor=actor,
        details={"before": before, "after": {"name": category.name, "slug": category.slug}},
    )
    return category


def reorder_categories(
    *, session: Session, ordered_ids: Sequence[int], actor: Actor | None = None
) -> list[Category]:
    """Put the categories in exactly this order (every category, each once)."""
    categories = {c.id: c for c in session.exec(select(Category)).all()}
    if len(set(ordered_ids)) != len(ordered_ids) or set(ordered_ids) != set(categories):
        raise InvalidInput("List every category exactly once to reorder them.", field="ordered_ids")
    for position, category_id in enumerate(ordered_ids, start=1):
        categories[category_id].position = position
        session.add(categories[category_id])
    session.flush()
    catalog_changed(
        session=session,
        action="catalog.category.reorder",
        target="categories",
        actor=actor,
        details={"order": list(ordered_ids)},
    )
    return [categories[i] for i in ordered_ids]


def delete_category(*, session: Session, category_id: int, actor: Actor | None = None) -> None:
    """Delete an empty category; one that still holds products (archived too) is refused."""
    category = get_category(session=session, id_or_slug=category_id)
    count = session.exec(
        select(func.count(col(Product.id))).where(Product.category_id == category.id)
    ).one()
    if count:
        raise Conflict(
            f"The category still holds {count} product(s); move or delete them first.",
            field="category",
        )
    session.delete(category)
    session.flush()
    catalog_changed(
        session=session,
        action="catalog.category.delete",
        target=f"category:{category_id}",
        actor=actor,
        details={"slug": category.slug},
    )


@dataclass(frozen=True, slots=True)
class CategorySummary:
    id: int
    slug: str
    name: str
    position: int
    product_count: int


def category_overview(*, session: Session) -> list[CategorySummary]:
    """Every category in shelf order with how many products (archived too) it holds."""
    counts = dict(
        session.exec(
            select(Product.category_id, func.count(col(Product.id)))
            .where(col(Product.category_id).is_not(None))
            .group_by(col(Product.category_id))
        ).all()
    )
    rows = session.exec(select(Category).order_by(col(Category.position), col(Category.id))).all()
    return [
        CategorySummary(
            id=c.id or 0,
            slug=c.slug,
            name=c.name,
            position=c.position,
            product_count=int(counts.get(c.id, 0)),
        )
        for c in rows
    ]


def move_category(
    *, session: Session, category_id: int, offset: int, actor: Actor | None = None
) -> list[Category]:
    """Move one category `offset` places (-1 up, +1 down); at either end it stays put."""
    ordered = [
        c.id or 0
        for c in session.exec(
            select(Category).order_by(col(Category.position), col(Category.id))
        ).all()
    ]
    if category_id not in ordered:
        raise NotFound(f"No category {category_id!r}.")
    index = ordered.index(category_id)
    target = min(max(index + offset, 0), len(ordered) - 1)
    if target == index:
        return [get_category(session=session, id_or_slug=i) for i in ordered]
    ordered.insert(target, ordered.pop(index))
    return reorder_categories(session=session, ordered_ids=ordered, actor=actor)
