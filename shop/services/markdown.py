"""Product descriptions are Markdown; this turns them into HTML that is safe to show anywhere.

Two layers: markdown-it renders with raw HTML switched off (so `<script>` arrives as text),
then nh3 (ammonia) keeps only an allow-list of tags and attributes and only http(s)/mailto
links, so no script, style, event handler or `javascript:` URL survives either way.

`plain_text` gives the same description as the words a reader sees, without Markdown
symbols, for places that take text only (card excerpts, meta and Open Graph descriptions).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul", "del",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


def render_description_html(markdown: str) -> str:
    """Markdown → sanitized HTML (the storefront page, crawlable HTML and admin preview)."""
    html = _renderer().render(markdown or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


def plain_text(markdown: str) -> str:
    """Markdown → its visible words on one line: no `**`, `#` or link targets; code and image
    alt text kept. Raw HTML stays literal text, as the rendered page shows it."""
    parts: list[str] = []
    for token in _renderer().parse(markdown or ""):
        if token.type == "inline":
            parts.append(_inline_text(token.children or []))
        elif token.type in ("fence", "code_block"):
            parts.append(token.content)
    return " ".join(" ".join(parts).split())


def _inline_text(tokens: Sequence[Token]) -> str:
    words: list[str] = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            words.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            words.append(" ")
        elif token.type == "image":  # its children are the alt text
            words.append(_inline_text(token.children or []))
    return "".join(words)
