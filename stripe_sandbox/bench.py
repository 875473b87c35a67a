"""Round trips per second of PaymentIntent.create + confirm pairs through the official SDK.

    python -m stripe_sandbox.bench [--seconds 5] [--threads 2] [--url http://127.0.0.1:12111]

Without --url it starts a sandbox in a subprocess (its own process, like production) on a free
port with a throwaway data file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import stripe

from .sandbox import free_port


def _pairs(url: str, seconds: float, counter: list[int], errors: list[str]) -> None:
    client = stripe.StripeClient(
        "sk_test_bench",
        base_addresses={"api": url, "files": url, "connect": url},
        max_network_retries=0,
    )
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        try:
            pi = client.v1.payment_intents.create(params={"amount": 1999, "currency": "usd"})
            pi = client.v1.payment_intents.confirm(
                pi.id,
                params={"payment_method": "pm_card_visa", "return_url": "https://shop.example/"},
            )
            if pi.status != "succeeded":
                errors.append(pi.status)
            n += 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
    counter.append(n)


def run(url: str, seconds: float, threads: int) -> float:
    _pairs(url, 0.5, [], [])  # warm up
    counter: list[int] = []
    errors: list[str] = []
    workers = [
        threading.Thread(target=_pairs, args=(url, seconds, counter, errors))
        for _ in range(threads)
    ]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if errors:
        print(f"errors: {len(errors)} (first: {errors[0]})", file=sys.stderr)
    return sum(counter) / elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stripe_sandbox.bench")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--url", default=None, help="benchmark an already running sandbox")
    args = ap.parse_args(argv)
    proc = None
    tmp = None
    url = args.url
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="stripe-sandbox-bench-")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stripe_sandbox",
                "--port",
                str(port),
                "--data",
                os.path.join(tmp.name, "bench.sqlite3"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while True:
            try:
                httpx.get(url, timeout=0.5)
                break
            except httpx.HTTPError:
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit("the sandbox did not start") from None
                time.sleep(0.05)
    try:
        rate = run(url, args.seconds, args.threads)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        if tmp is not None:
            tmp.cleanup()
    print(
        f"PaymentIntent create+confirm round trips: {rate:.1f}/s "
        f"({args.threads} client threads, {args.seconds:.0f} s, {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
