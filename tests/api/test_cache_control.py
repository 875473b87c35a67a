"""No API answer is kept by a browser or proxy unless its route says it may be (RFC 6749 §5.1
asks `Cache-Control: no-store` of every answer carrying tokens)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shop.api.middleware import RequestIdMiddleware
from tests.factories import DEFAULT_PASSWORD, make_user


def test_token_account_order_and_admin_answers_are_not_to_be_stored(
    api_client: TestClient, session: Session
):
    # given a customer and an admin with passwords
    make_user(session, email="buyer@example.com", roles=("customer",))
    make_user(session, email="owner@example.com", roles=("admin",))
    session.commit()
    # when they sign in, refresh, and read their account, orders, downloads and staff data
    login = api_client.post(
        "/api/auth/login", json={"email": "buyer@example.com", "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    api_client.cookies.clear()  # an API client from here on: tokens only
    refresh = api_client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    buyer = {"Authorization": f"Bearer {refresh.json()['access_token']}"}
    admin_tokens = api_client.post(
        "/api/auth/login", json={"email": "owner@example.com", "password": DEFAULT_PASSWORD}
    ).json()
    admin = {"Authorization": f"Bearer {admin_tokens['access_token']}"}
    api_client.cookies.clear()
    answers = {
        "login": login,
        "refresh": refresh,
        "session": api_client.get("/api/auth/session", headers=buyer),
        "me": api_client.get("/api/auth/me", headers=buyer),
        "orders": api_client.get("/api/orders", headers=buyer),
        "downloads": api_client.get("/api/downloads", headers=buyer),
        "admin users": api_client.get("/api/admin/users", headers=admin),
        "admin orders": api_client.get("/api/admin/orders", headers=admin),
        "wrong password": api_client.post(
            "/api/auth/login", json={"email": "buyer@example.com", "password": "not it at all"}
        ),
        "anonymous": api_client.get("/api/orders"),
    }
    # then every answer, refusals included, tells caches not to store it
    seen = {name: (r.status_code, r.headers.get("cache-control")) for name, r in answers.items()}
    assert seen == {
        "login": (200, "no-store"),
        "refresh": (200, "no-store"),
        "session": (200, "no-store"),
        "me": (200, "no-store"),
        "orders": (200, "no-store"),
        "downloads": (200, "no-store"),
        "admin users": (200, "no-store"),
        "admin orders": (200, "no-store"),
        "wrong password": (401, "no-store"),
        "anonymous": (401, "no-store"),
    }


def test_a_route_with_its_own_cache_policy_keeps_it_and_pages_outside_the_api_are_left_alone():
    # given an app with an API route that sets its own policy, one that sets none, and a page
    def cached(request):
        return PlainTextResponse("catalog", headers={"Cache-Control": "public, max-age=60"})

    def plain(request):
        return PlainTextResponse("plain")

    app = RequestIdMiddleware(
        Starlette(
            routes=[
                Route("/api/cached", cached),
                Route("/api/plain", plain),
                Route("/products/thing", plain),
            ]
        )
    )
    with TestClient(app) as client:
        # when each is fetched
        own = client.get("/api/cached")
        default = client.get("/api/plain")
        page = client.get("/products/thing")
    # then the route's own policy stands, the API default is no-store, and pages keep theirs
    assert own.headers.get_list("cache-control") == ["public, max-age=60"]
    assert default.headers.get_list("cache-control") == ["no-store"]
    assert "cache-control" not in page.headers
