"""The API docs render in a real browser, from the shop's own files, under its CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_the_shops_api(page, live_shop):
    # given nothing but the shop: any request elsewhere (a CDN) is refused
    outside: list[str] = []

    def only_the_shop(route):
        if route.request.url.startswith(live_shop.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_shop)
    # when the docs are opened
    page.goto("/api/docs")
    # then Swagger UI shows the shop's operations
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("API")
    expect(page.locator(".opblock-summary-path", has_text="/api/products").first).to_be_visible()
    assert outside == []
    assert page.problems.csp_violations == []
    assert page.problems.console_errors == []
