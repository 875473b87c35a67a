"""Webhook throughput: signed Stripe events through the real endpoint ÷ a bare INSERT … ON
CONFLICT DO NOTHING of the same event ids, on the same database in the same run.

The stream: `--events` (10,000) deliveries of which `--duplicates` (20 %) repeat an earlier
event, shuffled. A quarter of the distinct events are `payment_intent.succeeded` for real
pending orders (each of one product with one file and counted stock, so each fulfilment
makes one download grant, one receipt and one inventory decrement); the rest are the other
types Stripe sends alongside (`charge.succeeded`, `payment_intent.created`, …), stored and acknowledged. Each is signed
just before the run and POSTed once by wrk (`bench/webhooks.lua`, one thread, `--concurrency`
connections) to `POST /api/webhooks/stripe` of the shop's API served by granian (one worker,
as the appliance runs). For reading the ratio, the same wrk also loads GET /api/health, a
route that does nothing: no endpoint of this HTTP stack can be faster than that.

The baseline inserts the same id stream (duplicates, same order) into a one-column table of
the same database, one INSERT … ON CONFLICT DO NOTHING and commit per delivery — the least a
durable dedupe costs — sequentially and with the same concurrency; the faster is the
denominator. Goals: ratio ≥ 0.3 and p99 response time < 200 ms; and the counts afterwards
must show every order fulfilled exactly once.

    .venv/bin/python -m bench.webhooks [--events 10000] [--duplicates 0.2] [--concurrency 4]
    .venv/bin/python -m bench.webhooks --database-url postgresql://postgres@127.0.0.1/postgres
      (PostgreSQL: a scratch database is created on that server and dropped afterwards)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import ROOT, free_port, require_wrk, serve, wrk_requests_per_second

LUA_SCRIPT = Path(__file__).with_name("webhooks.lua")
SECRET = "whsec_bench_" + secrets.token_hex(16)
SUCCEEDED_SHARE = 0.25
PRODUCTS = 20  # the payments buy these in turn (one hot product would serialise them)
STOCK = 100_000
OTHER_TYPES = (
    "payment_intent.created",
    "charge.succeeded",
    "charge.updated",
    "customer.updated",
    "balance.available",
)


def signature(payload: bytes, secret: str = SECRET) -> str:
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@contextmanager
def database(url: str | None) -> Iterator[str | None]:
    """None for the SQLite file of the data dir, else a scratch PostgreSQL database."""
    if not url:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shop.db import normalize_url

    admin = make_url(normalize_url(url))
    name = f"shop_bench_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        from shop import db

        db.dispose_engines()
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def prepare_env(data_dir: Path, database_url: str | None) -> dict[str, str]:

    env = {**os.environ, "SHOP_DATA_DIR": str(data_dir), "SHOP_ENV": "development"}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(LOG_LEVEL="WARNING", STRIPE_WEBHOOK_SECRET=SECRET, RATE_LIMIT_ENABLED="false")
    subprocess.run(
        [sys.executable, "-m", "shop", "migrate"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    # This process uses the same settings to make the orders and count the outcome.
    os.environ.update(env)
    if not database_url:
        os.environ.pop("DATABASE_URL", None)
    from shop.settings import get_settings

    get_settings.cache_clear()
    return env


def make_orders(count: int) -> tuple[list[int], list[dict[str, Any]]]:
    """`count` pending orders, each of one of `PRODUCTS` products with one file and counted
    stock; their succeeded PaymentIntents."""
    from shop.db import session_scope
    from shop.models import Product, ProductFile, User
    from shop.services import orders

    with session_scope() as session:
        user = User(email=f"bench-{secrets.token_hex(4)}@example.com", name="Bench")
        products = [
            Product(
                name=f"Bench product {n}",
                slug=f"bench-{n}-{secrets.token_hex(4)}",
                price_amount=1000 + n,
                currency="cad",
                description="Bought by the webhook benchmark.",
                inventory_count=STOCK,
            )
            for n in range(PRODUCTS)
        ]
        session.add_all([user, *products])
        session.flush()
        for product in products:
            session.add(
                ProductFile(
                    product_id=product.id,  # type: ignore[arg-type]
                    storage_key=f"files/bench-{product.id}.zip",
                    original_name="bench.zip",
                    size_bytes=1,
                    sha256="0" * 64,
                )
            )
        product_ids = [p.id for p in products]
        user_id = user.id
    intents = []
    batch = 200
    for start in range(0, count, batch):
        with session_scope() as session:
            for n in range(start, min(start + batch, count)):
                order = orders.place_order(
                    session=session,
                    buyer_id=user_id,  # type: ignore[arg-type]
                    items=[orders.LineRequest(product_ids[n % PRODUCTS], 1)],  # type: ignore[arg-type]
                    billing=orders.Billing(country="CA", region="ON"),
                )
                order.stripe_payment_intent_id = f"pi_bench_{n:06d}_{secrets.token_hex(4)}"
                session.add(order)
                intents.append(
                    {
                        "id": order.stripe_payment_intent_id,
                        "object": "payment_intent",
                        "status": "succeeded",
                        "amount": order.total_amount,
                        "currency": order.currency,
                        "metadata": {"order_id": str(order.id)},
                    }
                )
    return product_ids, intents  # type: ignore[return-value]


def event_stream(total: int, duplicate_share: float, intents: list[dict[str, Any]]) -> list[bytes]:
    unique = total - int(total * duplicate_share)
    bodies = []
    for n in range(unique):
        if n < len(intents):
            event_type, obj = "payment_intent.succeeded", intents[n]
        else:
            event_type = OTHER_TYPES[n % len(OTHER_TYPES)]
            obj = {"id": f"obj_bench_{n}", "object": event_type.split(".")[0]}
        event = {
            "id": f"evt_bench_{n:06d}_{secrets.token_hex(6)}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
        bodies.append(json.dumps(event).encode())
    stream = bodies + [random.choice(bodies) for _ in range(total - unique)]
    random.shuffle(stream)
    return stream


def deliver(base: str, stream: list[bytes], concurrency: int) -> tuple[float, float, float]:
    """POST every event once with wrk (`bench/webhooks.lua`), each signed just before the run;
    returns the elapsed seconds and the p50 and p99 response times in seconds."""
    with tempfile.NamedTemporaryFile("wb", suffix=".tsv") as file:
        for body in stream:
            file.write(signature(body).encode() + b"\t" + body + b"\n")
        file.flush()
        process = subprocess.Popen(
            [
                require_wrk(),
                "-t1",
                f"-c{concurrency}",
                "-d600s",
                "--timeout",
                "60s",
                "-s",
                str(LUA_SCRIPT),
                base,
            ],
            env={**os.environ, "WEBHOOK_STREAM": file.name},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        started = None
        for line in process.stdout:
            if line.startswith("ready"):
                started = time.perf_counter()
            elif line.startswith("done"):
                break
        else:
            raise SystemExit(f"wrk stopped before the last delivery (exit {process.wait()})")
        assert started is not None
        elapsed = time.perf_counter() - started
        process.send_signal(signal.SIGINT)
        summary = process.communicate(timeout=30)[0]
    found = dict(re.findall(r"^(failed|p50|p99) (\d+)$", summary, re.MULTILINE))
    if int(found["failed"]):
        raise SystemExit(f"{found['failed']} deliveries were not 2xx")
    return elapsed, int(found["p50"]) / 1e6, int(found["p99"]) / 1e6


def bare_inserts(ids: list[str], concurrency: int) -> float:
    """Seconds to INSERT … ON CONFLICT DO NOTHING each id with its own commit."""
    from sqlalchemy import text

    from shop.db import get_engine
    from shop.settings import get_settings

    engine = get_engine(get_settings().effective_database_url)
    table = f"bench_ids_{secrets.token_hex(3)}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {table} (id VARCHAR(255) PRIMARY KEY)"))
    statement = text(f"INSERT INTO {table} (id) VALUES (:id) ON CONFLICT DO NOTHING")
    chunks = [ids[n::concurrency] for n in range(concurrency)]
    errors: list[BaseException] = []

    def insert(chunk: list[str]) -> None:
        try:
            with engine.connect() as connection:
                for event_id in chunk:
                    connection.execute(statement, {"id": event_id})
                    connection.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=insert, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    with engine.begin() as connection:
        stored = connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
        connection.execute(text(f"DROP TABLE {table}"))
    if errors:
        raise SystemExit(f"baseline failed: {errors[0]!r}")
    assert stored == len(set(ids)), (stored, len(set(ids)))
    return elapsed


def handler_only(total: int, duplicate_share: float, order_count: int) -> float:
    """Events/s of a like stream (new orders, new ids) handed straight to the endpoint's
    function in this process, one after another: the work itself, without HTTP."""
    from shop.api.routes.webhooks import receive

    _, intents = make_orders(order_count)
    stream = event_stream(total, duplicate_share, intents)
    signed = [(body, signature(body)) for body in stream]
    started = time.perf_counter()
    for body, header in signed:
        answer = receive(payload=body, sig_header=header)
        if answer.status_code != 200:
            raise SystemExit(f"in-process delivery answered {answer.status_code}")
    return len(stream) / (time.perf_counter() - started)


def outcome_counts(product_ids: list[int]) -> dict[str, int]:
    from sqlmodel import col, func, select

    from shop.db import session_scope
    from shop.models import DownloadGrant, Order, OrderEmail, Product, WebhookEvent

    with session_scope() as session:
        stock = session.exec(
            select(func.sum(Product.inventory_count)).where(col(Product.id).in_(product_ids))
        ).one()
        return {
            "events stored": session.exec(select(func.count()).select_from(WebhookEvent)).one(),
            "events processed": session.exec(
                select(func.count())
                .select_from(WebhookEvent)
                .where(col(WebhookEvent.processed_at).is_not(None))
            ).one(),
            "orders paid": session.exec(
                select(func.count()).select_from(Order).where(Order.status == "paid")
            ).one(),
            "download grants": session.exec(select(func.count()).select_from(DownloadGrant)).one(),
            "receipts": session.exec(select(func.count()).select_from(OrderEmail)).one(),
            "inventory taken": STOCK * len(product_ids) - int(stock or 0),
        }


def run(args: argparse.Namespace) -> bool:
    label = "PostgreSQL" if args.database_url else "SQLite"
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url) as url:
        env = prepare_env(Path(tmp) / "data", url)
        unique = args.events - int(args.events * args.duplicates)
        order_count = int(unique * SUCCEEDED_SHARE)
        product_ids, intents = make_orders(order_count)
        stream = event_stream(args.events, args.duplicates, intents)
        ids = [json.loads(body)["id"] for body in stream]
        port = free_port()
        with serve("shop.api.app:create_api_app", port=port, env=env) as base:
            # Warm up the worker (imports, connection pool) with events of their own.
            warm = event_stream(50, 0.0, [])
            deliver(base, warm, args.concurrency)
            elapsed, p50, p99 = deliver(base, stream, args.concurrency)
            # What the HTTP stack alone allows, for reading the ratio: a route that does nothing.
            ceiling = wrk_requests_per_second(
                base + "/api/health", seconds=3, connections=args.concurrency
            )
        sequential = bare_inserts(ids, 1)
        concurrent = bare_inserts(ids, args.concurrency)
        counts = outcome_counts(product_ids)
        handler_per_s = handler_only(args.events, args.duplicates, order_count)

    events_per_s = len(stream) / elapsed
    bare_per_s = len(ids) / min(sequential, concurrent)
    ratio = events_per_s / bare_per_s
    p50, p99 = p50 * 1000, p99 * 1000
    expected = {
        "events stored": unique + 50,
        "events processed": unique + 50,
        "orders paid": order_count,
        "download grants": order_count,
        "receipts": order_count,
        "inventory taken": order_count,
    }
    exact = counts == expected
    print(
        f"webhooks ({label}): {len(stream):,} deliveries ({len(stream) - unique:,} duplicates, "
        f"{order_count:,} payments) in {elapsed:.1f} s = {events_per_s:,.0f} events/s; "
        f"bare INSERT … ON CONFLICT DO NOTHING {bare_per_s:,.0f} ids/s "
        f"(sequential {len(ids) / sequential:,.0f}, {args.concurrency} threads "
        f"{len(ids) / concurrent:,.0f})"
    )
    print(
        f"webhooks ({label}): for scale, GET /api/health (a route doing nothing) on the same "
        f"server with wrk "
        f"{ceiling:,.0f} req/s (events/s ÷ that = {events_per_s / ceiling:.2f})"
    )
    print(
        f"webhooks ({label}): for scale, the same kind of stream handed straight to the "
        f"endpoint's function in-process, no HTTP: {handler_per_s:,.0f} events/s"
    )
    needed = 0.3 * bare_per_s
    if max(ceiling, handler_per_s) < needed:
        print(
            f"webhooks ({label}): the goal needs {needed:,.0f} events/s, more than a route "
            f"doing nothing ({ceiling:,.0f} req/s) and more than the handler alone "
            f"({handler_per_s:,.0f}/s) reach here"
        )
    print(f"webhooks ({label}) counts: {counts}")
    print(f"webhooks ({label}) exactly once: {'PASS' if exact else f'FAIL, expected {expected}'}")
    print(
        f"webhooks ({label}) ratio: {ratio:.2f} (goal >= 0.3) {'PASS' if ratio >= 0.3 else 'MISS'}"
    )
    print(
        f"webhooks ({label}) response time: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(goal < 200 ms) {'PASS' if p99 < 200 else 'MISS'}"
    )
    return exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    # Stripe delivers to one endpoint with modest parallelism.
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server to run on (a scratch database is made there); else SQLite",
    )
    args = parser.parse_args()
    if not run(args):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
