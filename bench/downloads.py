"""Download throughput: a 1 GiB file through the shop's signed link ÷ a bare Starlette FileResponse.

One server process (granian, one worker, as the appliance runs) serves both: the shop's API
(`GET /api/downloads/{token}` with the customer's session cookie, as a link serves only its
signed-in owner: session and link check, grant check in the database, streaming with Range
support and counting) and, beside it, a bare `starlette.responses.FileResponse` of the same file
(which granian may send with its zero-copy `pathsend`). curl downloads each on loopback to
/dev/null, alternating, several rounds; the medians are compared. While the shop's downloads
run, the resident memory (RSS) of the server's process tree is sampled every 20 ms.
Goal: ratio ≥ 0.8 and a peak RSS that does not grow with the file.

    .venv/bin/python -m bench.downloads [--size-mib 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from starlette.responses import FileResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.common import free_port, seeded_env, serve
from bench.upload import RssSampler, _rss_bytes, _tree_pids

BARE_PATH = "/__bench/file"
BLOCK = 1024 * 1024


def make_app() -> ASGIApp:
    """The shop's API plus one bare FileResponse of the benchmark file (BENCH_FILE)."""
    from shop.api.app import create_api_app

    shop_app = create_api_app()
    path = os.environ["BENCH_FILE"]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == BARE_PATH:
            await FileResponse(path, media_type="application/octet-stream")(scope, receive, send)
        else:
            await shop_app(scope, receive, send)

    return app


def _purchase(env: dict[str, str], size: int) -> tuple[int, int, Path, str]:
    """A signed-in customer with a paid order of a product whose file is `size` bytes;
    (grant, user, path, session cookie)."""
    os.environ.update({k: env[k] for k in ("SHOP_DATA_DIR", "SHOP_ENV")})
    os.environ.pop("DATABASE_URL", None)
    from shop.db import session_scope
    from shop.models import DownloadGrant, Order, OrderItem, Product, ProductFile, utcnow
    from shop.services import auth, storage
    from shop.settings import get_settings

    get_settings.cache_clear()
    block = os.urandom(BLOCK)
    stored = storage.store_chunks(
        (block[: min(BLOCK, size - done)] for done in range(0, size, BLOCK)), suffix=".bin"
    )
    now = utcnow()
    with session_scope() as session:
        user = auth.create_user(session=session, email="bench-customer@example.com", password=None)
        product = Product(name="Bench download", slug="bench-download", price_amount=100)
        session.add(product)
        session.flush()
        product_file = ProductFile(
            product_id=product.id or 0,
            storage_key=stored.key,
            original_name="bench.bin",
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
        )
        order = Order(user_id=user.id, status="paid", total_amount=100, paid_at=now)
        session.add_all([product_file, order])
        session.flush()
        item = OrderItem(
            order_id=order.id or 0,
            product_id=product.id or 0,
            product_name=product.name,
            price_at_time=100,
        )
        session.add(item)
        session.flush()
        grant = DownloadGrant(
            order_item_id=item.id or 0,
            product_file_id=product_file.id or 0,
            user_id=user.id,
            expires_at=now + timedelta(days=1),
            download_limit=1000,
        )
        session.add(grant)
        signed_in = auth.start_session(session=session, user=user, user_agent="bench.downloads")
        session.flush()
        cookie = f"{auth.SESSION_COOKIE}={signed_in.session_token}"
        return grant.id or 0, user.id or 0, storage.path_for(stored.key), cookie


def _fresh_link(grant_id: int, user_id: int) -> str:
    from shop.services import downloads

    token, _ = downloads.sign_link(grant_id=grant_id, user_id=user_id)
    return downloads.LINK_PREFIX + token


def _cpu_seconds(root_pid: int) -> float:
    """User + system CPU time used so far by the server's process tree."""
    total = 0
    for pid in _tree_pids(root_pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _download_mb_per_s(url: str, size: int, cookie: str | None = None) -> float:
    """MB/s (10^6 bytes) of one whole download to /dev/null with curl (httpx if no curl)."""
    curl = shutil.which("curl")
    headers = {"Cookie": cookie} if cookie else {}
    started = time.perf_counter()
    if curl:
        out = subprocess.run(
            [curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}"]
            + [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
            + [url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        status, received = int(out[0]), int(out[1])
    else:
        received = 0
        with httpx.stream("GET", url, headers=headers, timeout=300) as answer:
            status = answer.status_code
            for chunk in answer.iter_raw(BLOCK):
                received += len(chunk)
    elapsed = time.perf_counter() - started
    if status != 200 or received != size:
        raise SystemExit(f"download of {url} failed: HTTP {status}, {received} of {size} bytes")
    return size / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024

    with tempfile.TemporaryDirectory(prefix="shop-bench-downloads-") as tmp:
        env = seeded_env(
            Path(tmp) / "data",
            RATE_LIMIT_ENABLED="false",
            STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}",
        )
        grant_id, user_id, path, cookie = _purchase(env, size)
        env["BENCH_FILE"] = str(path)
        port = free_port()
        with serve("bench.downloads:make_app", port=port, env=env) as base:
            server_pid = _server_pid(port)
            # Warm-up: the file into the page cache, both paths once.
            _download_mb_per_s(base + BARE_PATH, size)
            _download_mb_per_s(base + _fresh_link(grant_id, user_id), size, cookie)
            idle = _rss_bytes(_tree_pids(server_pid))
            shop, bare, peaks, shop_cpu, bare_cpu = [], [], [], [], []
            for _ in range(args.rounds):
                before = _cpu_seconds(server_pid)
                bare.append(_download_mb_per_s(base + BARE_PATH, size))
                bare_cpu.append(_cpu_seconds(server_pid) - before)
                sampler = RssSampler(server_pid)
                sampler.start()
                before = _cpu_seconds(server_pid)
                shop.append(_download_mb_per_s(base + _fresh_link(grant_id, user_id), size, cookie))
                shop_cpu.append(_cpu_seconds(server_pid) - before)
                peaks.append(sampler.stop())
    shop_mbs, bare_mbs = statistics.median(shop), statistics.median(bare)
    ratio = shop_mbs / bare_mbs
    print(
        f"downloads: {args.size_mib} MiB through the signed link {shop_mbs:,.0f} MB/s, "
        f"bare Starlette FileResponse {bare_mbs:,.0f} MB/s (median of {args.rounds})"
    )
    print(
        f"downloads: server RSS idle {idle / 2**20:.0f} MiB, peak during the shop's downloads "
        f"{max(peaks) / 2**20:.0f} MiB (+{(max(peaks) - idle) / 2**20:.0f} MiB)"
    )
    # Less sensitive to other load on the machine than wall-clock speed: the server's CPU time.
    print(
        f"downloads: server CPU per download {statistics.median(shop_cpu):.2f} s through the "
        f"signed link, {statistics.median(bare_cpu):.2f} s bare"
    )
    print(f"downloads ratio: {ratio:.2f} (goal >= 0.8) {'PASS' if ratio >= 0.8 else 'MISS'}")


def _server_pid(port: int) -> int:
    """The granian process listening on `port` (its tree holds the worker)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"granian" in b" ".join(cmdline) and str(port).encode() in cmdline:
            return int(proc.name)
    raise RuntimeError(f"no granian process on port {port}")


if __name__ == "__main__":
    main()
