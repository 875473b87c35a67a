"""Helpers shared by the benchmarks: free ports, a seeded data dir, a server process, wrk."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seeded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a shop using its own migrated and seeded SQLite data dir."""
    env = {**os.environ, "SHOP_DATA_DIR": str(data_dir), "SHOP_ENV": "development", **extra}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["LOG_LEVEL"] = "WARNING"
    for command in ("migrate", "seed"):
        subprocess.run(
            [sys.executable, "-m", "shop", command],
            env=env,
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
    return env


@contextmanager
def serve(target: str, *, port: int, env: dict[str, str], factory: bool = True) -> Iterator[str]:
    """Serve an ASGI app with granian (one worker, as the appliance runs) until the block ends."""
    command = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-ws",
    ]
    if factory:
        command.append("--factory")
    process = subprocess.Popen([*command, target], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"server for {target} did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is needed for this benchmark: apt-get install -y wrk")
    return path


def wrk_requests_per_second(url: str, *, seconds: int, connections: int) -> float:
    output = subprocess.run(
        [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if match is None or non_2xx:
        raise RuntimeError(f"wrk run failed or saw errors:\n{output}")
    return float(match.group(1))
