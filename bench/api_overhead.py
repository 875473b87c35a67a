"""API overhead: requests/s of GET /api/products ÷ a bare Starlette endpoint serving the same bytes.

Both endpoints live in the same server process (granian, one worker, the appliance's server)
and are loaded by wrk on loopback with the same duration and concurrency, alternating so that
neither gets a warmer machine. The bare one answers before anything of the shop runs; the
shop's goes through all of it (request id and access log, per-IP rate limit, CSRF check,
response cache), so the ratio is what the shop's stack costs. Goal: ratio ≥ 0.5.

    .venv/bin/python -m bench.api_overhead [--seconds 8] [--connections 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.common import free_port, seeded_env, serve, wrk_requests_per_second

BARE_PATH = "/__bench/bare"


def make_app() -> ASGIApp:
    """The shop's HTTP stack plus one bare endpoint that answers the catalog bytes from memory."""
    from shop.api.app import create_api_app

    shop_app = create_api_app()
    cached: dict[str, bytes] = {}

    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        if "body" not in cached:
            # Filled once from the real endpoint so both return byte-identical bodies.
            transport = httpx.ASGITransport(app=shop_app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                cached["body"] = (await client.get("/api/products")).content
        await Response(cached["body"], media_type="application/json")(scope, receive, send)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == BARE_PATH:
            await bare(scope, receive, send)
        else:
            await shop_app(scope, receive, send)

    _ = Request  # the bare endpoint is plain Starlette: Response over raw ASGI
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        # One client from one address: the per-IP limiter still counts every request (its
        # cost is part of the overhead) but with a limit this load never reaches.
        env = seeded_env(Path(tmp) / "data", RATE_LIMIT_PER_IP="1000000000/minute")
        port = free_port()
        with serve("bench.api_overhead:make_app", port=port, env=env) as base:
            api_body = httpx.get(base + "/api/products").content
            assert httpx.get(base + BARE_PATH).content == api_body, (
                "endpoints must serve the same bytes"
            )
            wrk_requests_per_second(base + "/api/products", seconds=2, connections=args.connections)
            api, bare = [], []
            for _ in range(args.rounds):
                bare.append(
                    wrk_requests_per_second(
                        base + BARE_PATH, seconds=args.seconds, connections=args.connections
                    )
                )
                api.append(
                    wrk_requests_per_second(
                        base + "/api/products", seconds=args.seconds, connections=args.connections
                    )
                )
    api_rps, bare_rps = statistics.median(api), statistics.median(bare)
    ratio = api_rps / bare_rps
    print(
        f"api overhead: GET /api/products {api_rps:,.0f} req/s, bare Starlette {bare_rps:,.0f} req/s"
    )
    print(f"api overhead ratio: {ratio:.2f} (goal >= 0.5) {'PASS' if ratio >= 0.5 else 'MISS'}")


if __name__ == "__main__":
    main()
