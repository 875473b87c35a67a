"""Product descriptions as plain text, for places that take no HTML (cards, meta tags)."""

from __future__ import annotations

import pytest

from shop.services.markdown import plain_text


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("A **bold** test with _italics_.", "A bold test with italics."),
        ("# Features\n\n- one\n- two\n\n1. three", "Features one two three"),
        ("See [the docs](https://example.com/docs).", "See the docs."),
        ("Run `make run` then\nwait.", "Run make run then wait."),
        ("![A cover *photo*](cover.png) here", "A cover photo here"),
        ("> quoted ~~old~~ new", "quoted old new"),
        ("Price: 5 \\*not bold\\* &amp; tax", "Price: 5 *not bold* & tax"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "a b 1 2"),
        ("```\nx = 1\n```", "x = 1"),
        ("Raw <b>html</b> stays text", "Raw <b>html</b> stays text"),
        ("", ""),
    ],
)
def test_plain_text_keeps_the_words_and_drops_the_markdown(markdown: str, text: str):
    assert plain_text(markdown) == text
