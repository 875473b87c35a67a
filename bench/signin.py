"""Sign-in throughput: correct passwords per second, and how fast throttled attempts are refused.

Starts the REST API under uvicorn on a free loopback port (its own data dir and SQLite
database unless BENCH_DATABASE_URL is given), creates one account, then for a fixed time
(--seconds, default 10) drives it with --concurrency threads of httpx clients:

  1. correct passwords: POST /api/auth/login with the right password (each opens a session);
  2. throttled: after five wrong passwords from this IP, keeps sending wrong passwords and
     counts the 429 answers (a few 401s appear when a back-off window ends and the attempt
     is checked, and lengthens the next window).

The API-wide per-IP rate limit is raised for the run (all load comes from 127.0.0.1), so the
numbers show the sign-in path itself. Also prints the argon2 parameters and hash time.

    .venv/bin/python bench/signin.py [--seconds 10] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EMAIL = "bench@example.com"
PASSWORD = "benchmark passphrase 2026"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(env: dict[str, str]) -> None:
    os.environ.update(env)
    from shop import db
    from shop.services import users
    from shop.settings import get_settings

    get_settings.cache_clear()
    db.migrate()
    with db.session_scope() as session:
        if users.find_user(session=session, email=EMAIL) is None:
            users.create_account(session=session, email=EMAIL, password=PASSWORD)
    db.dispose_engines()


def argon2_report() -> str:
    from shop.services import passwords
    from shop.settings import get_settings

    settings = get_settings()
    passwords.hash_password("warm up")
    runs = []
    for _ in range(10):
        started = time.perf_counter()
        passwords.hash_password("correct horse battery staple")
        runs.append((time.perf_counter() - started) * 1000)
    return (
        f"argon2id m={settings.argon2_memory_kib} KiB t={settings.argon2_time_cost} "
        f"p={settings.argon2_parallelism}: hash median {statistics.median(runs):.1f} ms "
        f"(min {min(runs):.1f}, max {max(runs):.1f}) on {os.cpu_count()} CPUs"
    )


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the API server exited during start-up")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the API server did not start within 30 s")


def load(
    base: str, body: dict[str, str], seconds: float, concurrency: int
) -> tuple[Counter[int], list[float]]:
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    headers = {"Origin": base}

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                status = client.post("/api/auth/login", json=body).status_code
                elapsed = time.perf_counter() - started
                client.cookies.clear()
                with lock:
                    statuses[status] += 1
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, latencies


def describe(name: str, statuses: Counter[int], latencies: list[float], seconds: float) -> str:
    total = sum(statuses.values())
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000 if ordered else 0
    p95 = ordered[int(len(ordered) * 0.95) - 1] * 1000 if ordered else 0
    return (
        f"{name}: {total / seconds:.1f} req/s over {seconds:.0f} s ({dict(sorted(statuses.items()))}), "
        f"latency p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="shop-bench-signin-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "SHOP_ENV": "development",
        "SHOP_DATA_DIR": str(workdir / "data"),
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL")
        or f"sqlite:///{workdir / 'data' / 'shop.sqlite3'}",
        "PUBLIC_URL": base,
        "RATE_LIMIT_PER_IP": "1000000/minute",
        "RATE_LIMIT_PER_USER": "1000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    prepare(env)
    print(argon2_report())
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "shop.api.app:create_api_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        wait_until_up(base, server)
        good = {"email": EMAIL, "password": PASSWORD}
        statuses, latencies = load(base, good, args.seconds, args.concurrency)
        print(describe("correct passwords", statuses, latencies, args.seconds))
        bad = {"email": EMAIL, "password": "wrong password, on purpose"}
        with httpx.Client(base_url=base, headers={"Origin": base}) as client:
            for _ in range(5):
                client.post("/api/auth/login", json=bad)
        statuses, latencies = load(base, bad, args.seconds, args.concurrency)
        print(
            describe(
                "throttled (wrong passwords after 5 failures)", statuses, latencies, args.seconds
            )
        )
        print(f"  429 answers: {statuses[429] / args.seconds:.1f}/s")
    finally:
        server.terminate()
        server.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
