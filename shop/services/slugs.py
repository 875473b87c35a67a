"""URL slugs: generated from names, checked when typed by hand."""

from __future__ import annotations

import re
import unicodedata

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(text: str, *, max_length: int) -> str:
    """`"Café Déjà Vu — Vol. 2"` → `"cafe-deja-vu-vol-2"` (ASCII, lower case, hyphens)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def slug_problem(slug: str, *, max_length: int) -> str | None:
    """Why `slug` cannot be used, or None when it can."""
    if not slug:
        return "The slug must not be empty."
    if len(slug) > max_length:
        return f"The slug must be at most {max_length} characters."
    if not SLUG_PATTERN.match(slug):
        return "Use lower-case letters, digits and single hyphens (like 'my-product-2')."
    if slug.isdigit():
        return "The slug must contain a letter (numbers alone are product ids)."
    return None
