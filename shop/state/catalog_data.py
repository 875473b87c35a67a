"""Catalog reads for pages: service calls in a session, run off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from shop.db import session_scope
from shop.services import catalog
from shop.services.markdown import render_description_html
from shop.state.site import product_card_data

T = TypeVar("T")
MAX_PAGE = 200


async def in_session(work: Callable[[Any], T]) -> T:
    """Run `work(session)` in a worker thread with its own session."""

    def run() -> T:
        with session_scope() as session:
            return work(session)

    return await asyncio.to_thread(run)


def card(view: catalog.ProductView) -> dict[str, str]:
    """A card's fields; its picture is the thumbnail (400 px), not the product page's large one.
    "image" is "" when the product has no picture (the card shows a placeholder)."""
    data = product_card_data(view)
    data["image"] = view.thumbnail_url or view.image_url or ""
    return data


def featured(session: Any, limit: int = 4) -> list[dict[str, str]]:
    return [card(p) for p in catalog.featured_products(session=session, limit=limit)]


def categories(session: Any) -> list[dict[str, str]]:
    return [{"slug": c.slug, "name": c.name} for c in catalog.list_categories(session=session)]


def listing(
    session: Any, *, category: str | None, q: str | None, page: int, per_page: int
) -> dict[str, Any]:
    """One numbered page of the catalog (cursors walked from the start: catalogs are small).

    A page past the last one (a stale link, products archived since) is the last page, and
    "page" says which page was shown, so its number, "Previous" and "Next" stay right."""
    total = catalog.count_products(session=session, category=category, q=q)
    last_page = max(1, -(-total // per_page))
    wanted = max(1, min(page, last_page, MAX_PAGE))
    cursor: str | None = None
    result = None
    shown = 0
    while shown < wanted:
        result = catalog.list_products(
            session=session, category=category, q=q, cursor=cursor, limit=per_page
        )
        shown += 1
        if result.next_cursor is None:
            break
        cursor = result.next_cursor
    assert result is not None
    return {
        "items": [card(p) for p in result.items],
        "total": total,
        "page": shown,
        "page_count": last_page,
        "has_next": result.next_cursor is not None and shown < MAX_PAGE,
    }


def product(session: Any, slug: str) -> tuple[dict[str, str], str] | None:
    """The product's display fields and its description as sanitised HTML, or None."""
    view = catalog.get_product(session=session, id_or_slug=slug)
    if view is None:
        return None
    data = product_card_data(view)
    data["kind"] = view.kind
    data["id"] = str(view.id)
    return data, render_description_html(view.description)
