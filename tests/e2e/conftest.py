"""A production build of the whole shop, served on a free port, and a Chromium to drive it.

The build is reused when up to date (scripts/build-frontend.sh keeps a stamp). The server
runs scripts/serve.sh (what `make run` runs) against a freshly migrated and seeded SQLite
database in a temporary data dir. Locally a missing Node.js or Chromium skips the browser
tests; under CI=true it fails them.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import CHROMIUM, unavailable

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = ROOT / "test-output"
# Variables of the test process that must not leak into the served shop.
_PRIVATE_ENV = ("DATABASE_URL", "REDIS_URL", "SHOP_DATA_DIR", "PUBLIC_URL", "PORT", "SECRET_KEY")


@dataclass(frozen=True)
class LiveShop:
    url: str
    data_dir: Path
    log: Path
    sandbox_url: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment() -> dict[str, str]:
    """This process's environment minus what tests set for in-process apps."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in _PRIVATE_ENV and not k.startswith(("REFLEX_", "__REFLEX", "STRIPE_"))
    }


def shop_environment(data_dir: Path, port: int) -> dict[str, str]:
    env = clean_environment()
    env.update(
        SHOP_ENV="test",
        SHOP_DATA_DIR=str(data_dir),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        PORT=str(port),
        HOST="127.0.0.1",
        REFLEX_USE_NPM="1",
        REFLEX_TELEMETRY_ENABLED="false",
        PYTHONDONTWRITEBYTECODE="1",
        # What a test sets up (a product marked not synced, an unpaid order) must not be
        # repaired behind its back by a periodic job; the jobs have tests of their own.
        JOBS_ENABLED="false",
    )
    return env


def create_account(shop: LiveShop, email: str, role: str | None) -> str:
    """An account in the live shop's database, made with the maintenance CLI as an operator
    would; its password."""
    password = secrets.token_urlsafe(18)
    port = urlparse(shop.url).port or 0
    command = [sys.executable, "-m", "shop", "users", "create", email, "--password-stdin"]
    if role:
        command += ["--role", role]
    subprocess.run(
        command,
        cwd=ROOT,
        env=shop_environment(shop.data_dir, port),
        input=password + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return password


def build_frontend() -> None:
    """Production build (skipped by the script when nothing changed)."""
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    try:
        subprocess.run(
            [str(ROOT / "scripts" / "ensure-node.sh")],
            check=True,
            capture_output=True,
            timeout=300,
            env=clean_environment(),
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        unavailable(f"Node.js >= 22 unavailable: {exc}")
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-frontend.sh")],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(f"frontend build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


def start_shop(
    data_dir: Path,
    log_path: Path,
    timeout: float = 60,
    *,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    env = {**shop_environment(data_dir, port), **(extra_env or {})}
    for command in ("migrate", "seed"):
        subprocess.run(
            [sys.executable, "-m", "shop", command], cwd=ROOT, env=env, check=True, timeout=120
        )
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "serve.sh")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the shop exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_shop(process)
    pytest.fail(f"the shop did not answer within {timeout} s:\n{log_path.read_text()[-4000:]}")


def stop_shop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def start_sandbox(data_dir: Path, shop_port: int, secret: str) -> tuple[subprocess.Popen, str]:
    """The offline Stripe sandbox as `python -m shop run` starts it: its own process, signed
    webhooks delivered to the live shop's endpoint."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**clean_environment(), "STRIPE_SANDBOX_WEBHOOK_SECRET": secret}
    log = (data_dir.parent / "sandbox.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            str(data_dir.parent / "stripe_sandbox.sqlite3"),
            "--webhook-url",
            f"http://127.0.0.1:{shop_port}/api/webhooks/stripe",
            "--retry-base",
            "0.5",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Stripe sandbox exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/_sandbox/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_shop(process)
    pytest.fail("the Stripe sandbox did not answer within 30 s")


@pytest.fixture(scope="session")
def live_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveShop]:
    """The built shop in sandbox mode, with the Stripe sandbox beside it (checkout works)."""
    build_frontend()
    data_dir = tmp_path_factory.mktemp("live-shop") / "data"
    log_path = data_dir.parent / "server.log"
    shop_port = free_port()
    secret = "whsec_live_shop_" + os.urandom(12).hex()
    sandbox, sandbox_url = start_sandbox(data_dir, shop_port, secret)
    try:
        process, url = start_shop(
            data_dir,
            log_path,
            port=shop_port,
            extra_env={"STRIPE_API_BASE": sandbox_url, "STRIPE_WEBHOOK_SECRET": secret},
        )
        try:
            yield LiveShop(url=url, data_dir=data_dir, log=log_path, sandbox_url=sandbox_url)
        finally:
            stop_shop(process)
    finally:
        stop_shop(sandbox)


@dataclass
class PageProblems:
    console_errors: list[str]
    csp_violations: list[str]
    websockets: list[str]


@pytest.fixture
def page(browser, live_shop: LiveShop) -> Iterator:
    """A fresh browser page; console errors and CSP violations are collected."""
    context = browser.new_context(base_url=live_shop.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = PageProblems([], [], [])
    page.on(
        "console",
        lambda msg: problems.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: problems.console_errors.append(str(exc)))
    page.on("websocket", lambda ws: problems.websockets.append(ws.url))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.problems = problems  # type: ignore[attr-defined]
    OUTPUT_DIR.mkdir(exist_ok=True)
    yield page
    context.close()
