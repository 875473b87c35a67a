"""Product descriptions are Markdown; this turns them into HTML that is safe to show anywhere.

Two layers: markdown-it renders with raw HTML switched off (so `<script>` arrives as text),
then nh3 (ammonia) keeps only an allow-list of tags and attributes and only http(s)/mailto
links, so no script, style, event handler or `javascript:` URL survives either way.

A description always sits under its product's name, the page's one <h1>: its headings are
demoted one level (`#` → <h2>, `##` → <h3>, …, capped at <h6>) wherever it is shown — the
storefront page, the crawlable HTML and the admin's preview of them.

`plain_text` gives the same description as the words a reader sees, without Markdown
symbols, for places that take text only (card excerpts, meta and Open Graph descriptions).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

# No "h1": that is the page's own heading (the product name), never a description's.
ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "em", "h2", "h3", "h4", "h5", "h6", "hr", "img",
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
# A description's `#` heading becomes this level: the page's <h1> is the product's name.
TOP_HEADING_LEVEL = 2


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


def render_description_html(markdown: str) -> str:
    """Markdown → sanitized HTML (the storefront page, crawlable HTML and admin preview), its
    headings demoted under the page's <h1>."""
    renderer = _renderer()
    env: dict[str, Any] = {}
    tokens = _demote_headings(renderer.parse(markdown or "", env))
    html = renderer.renderer.render(tokens, renderer.options, env)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


def _demote_headings(tokens: list[Token]) -> list[Token]:
    """`#`/setext headings one level down (h1 → h2 …), none deeper than h6."""
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = int(token.tag[1:]) + TOP_HEADING_LEVEL - 1
            token.tag = f"h{min(level, 6)}"
    return tokens


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
