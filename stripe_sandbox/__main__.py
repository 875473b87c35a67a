"""``python -m stripe_sandbox``: serve the Stripe sandbox."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .sandbox import DEFAULT_PORT, Sandbox


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m stripe_sandbox", description="Offline Stripe-compatible API server."
    )
    p.add_argument("--host", default=env("STRIPE_SANDBOX_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("STRIPE_SANDBOX_PORT", DEFAULT_PORT)))
    p.add_argument(
        "--data",
        default=env("STRIPE_SANDBOX_DATA", "data/stripe_sandbox.sqlite3"),
        help="SQLite file holding the sandbox's objects",
    )
    p.add_argument(
        "--webhook-url",
        default=env("STRIPE_SANDBOX_WEBHOOK_URL"),
        help="deliver every event to this URL (like `stripe listen --forward-to`)",
    )
    p.add_argument(
        "--webhook-secret",
        default=env("STRIPE_SANDBOX_WEBHOOK_SECRET"),
        help="signing secret for --webhook-url (whsec_...); generated and kept in "
        "the data file when omitted",
    )
    p.add_argument(
        "--webhook-secret-file",
        default=env("STRIPE_SANDBOX_WEBHOOK_SECRET_FILE"),
        help="read the signing secret from this file; when the file is missing, generate one "
        "and write it there (for the shop to read)",
    )
    p.add_argument(
        "--control-open",
        action="store_true",
        default=env("STRIPE_SANDBOX_CONTROL_OPEN", "") in ("1", "true", "yes"),
        help="answer /_sandbox/ control endpoints from non-loopback clients too",
    )
    p.add_argument(
        "--retry-base",
        type=float,
        default=float(env("STRIPE_SANDBOX_RETRY_BASE", "1.0")),
        help="first webhook retry delay in seconds (doubles each attempt)",
    )
    p.add_argument("--max-attempts", type=int, default=int(env("STRIPE_SANDBOX_MAX_ATTEMPTS", "8")))
    p.add_argument(
        "--public-url",
        default=env("STRIPE_SANDBOX_PUBLIC_URL"),
        help="base URL browsers use to reach the sandbox (hosted pages, stripe.js)",
    )
    p.add_argument("--log-level", default=env("STRIPE_SANDBOX_LOG_LEVEL", "warning"))
    return p.parse_args(argv)


def secret_from_file(path: str | None) -> str | None:
    if not path or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip() or None


def write_secret(path: str, secret: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    import uvicorn

    secret = args.webhook_secret or secret_from_file(args.webhook_secret_file)
    sb = Sandbox(
        args.data,
        webhook_url=args.webhook_url,
        webhook_secret=secret,
        retry_base=args.retry_base,
        max_attempts=args.max_attempts,
        public_url=args.public_url,
        control_open=args.control_open,
    )
    if args.webhook_secret_file and not os.path.exists(args.webhook_secret_file):
        write_secret(args.webhook_secret_file, sb.webhook_secret)
    print(
        f"stripe-sandbox listening on http://{args.host}:{args.port} (data: {args.data})",
        file=sys.stderr,
        flush=True,
    )
    if args.webhook_url:
        print(
            f"stripe-sandbox forwarding events to {args.webhook_url}", file=sys.stderr, flush=True
        )
    uvicorn.run(
        sb.asgi(),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
