"""Product descriptions as plain text, for places that take no HTML (cards, meta tags), and
as HTML whose headings sit under the page's <h1> (the product name)."""

from __future__ import annotations

import pytest

from shop.services.markdown import plain_text, render_description_html


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


# --- headings under the page's <h1> --------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("# Overview", "<h2>Overview</h2>"),
        ("## Features", "<h3>Features</h3>"),
        ("### Formats", "<h4>Formats</h4>"),
        ("#### Pages", "<h5>Pages</h5>"),
        ("##### Fonts", "<h6>Fonts</h6>"),
        ("###### Credits", "<h6>Credits</h6>"),  # no <h7>: the deepest stays <h6>
        ("Overview\n========", "<h2>Overview</h2>"),  # setext headings too
        ("Features\n--------", "<h3>Features</h3>"),
    ],
)
def test_description_headings_sit_one_level_under_the_product_name(markdown: str, html: str):
    # given a description heading; when it is rendered; then it is one level down
    assert render_description_html(markdown) == html


def test_a_description_never_renders_an_h1():
    # given a description with every way of writing a top heading
    markdown = "# Title\n\nTitle\n=====\n\n<h1>Raw</h1>\n\nText # not a heading"
    # when it is rendered
    html = render_description_html(markdown)
    # then the product name stays the page's only <h1>: none comes from the description
    assert "<h1" not in html
    assert html.count("<h2>Title</h2>") == 2
    assert "&lt;h1&gt;Raw&lt;/h1&gt;" in html  # raw HTML is text, as before
    assert "<p>Text # not a heading</p>" in html


def test_demoted_headings_keep_their_inline_formatting():
    assert render_description_html("# A **bold** [start](https://example.com)") == (
        '<h2>A <strong>bold</strong> <a href="https://example.com" '
        'rel="noopener noreferrer nofollow">start</a></h2>'
    )


def test_plain_text_is_unchanged_by_the_heading_demotion():
    assert plain_text("# Overview\n\n## Features\n\nText") == "Overview Features Text"
