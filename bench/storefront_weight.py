"""Storefront weight: compressed JavaScript a first-time visitor downloads, ours ÷ a blank app.

In one run: our production build (reused when up to date) served by scripts/serve.sh, and a
blank `reflex init --template blank` app built in production mode in a temporary folder with
the same Node.js and served with `reflex run --env prod --single-port`. Chromium (the system
one) loads our `/` then a product page in one fresh context, and the blank app's `/` in
another; every distinct JavaScript file is counted once at its transferred (compressed) size,
as a visitor's browser cache would. Goal: ratio ≤ 1.3 and ≤ 350 KiB compressed.

    .venv/bin/python -m bench.storefront_weight [--keep-blank DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bench.common import ROOT, free_port, seeded_env

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PRODUCT_PATH = "/products/freelancer-tax-primer"
GOAL_RATIO = 1.3
GOAL_KIB = 350
RESULTS = ROOT / "bench" / "results" / "storefront_weight.json"


@dataclass
class Weight:
    scripts: int = 0
    transferred: int = 0
    decoded: int = 0
    uncompressed_responses: list[str] = field(default_factory=list)

    @property
    def kib(self) -> float:
        return self.transferred / 1024


def node_env() -> dict[str, str]:
    bin_dir = subprocess.run(
        [str(ROOT / "scripts" / "ensure-node.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFLEX_", "__REFLEX"))}
    env.update(
        PATH=f"{bin_dir}:{env.get('PATH', '')}",
        REFLEX_USE_NPM="1",
        REFLEX_TELEMETRY_ENABLED="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def wait_for(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url + "/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def running(
    command: list[str], *, cwd: Path, env: dict[str, str], url: str, timeout: float, log: Path
) -> Iterator[str]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for(url, process, timeout)
            yield url
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{log.read_text()[-3000:]}") from None
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def build_blank(workdir: Path, env: dict[str, str]) -> float:
    """`reflex init --template blank` and a production build; returns seconds taken."""
    started = time.monotonic()
    reflex = str(ROOT / ".venv" / "bin" / "reflex")
    subprocess.run(
        [reflex, "init", "--name", "blank", "--template", "blank", "--loglevel", "warning"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [reflex, "export", "--frontend-only", "--no-zip", "--loglevel", "warning"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def measure(browser, base_url: str, paths: list[str]) -> Weight:
    """Load the paths in order in one fresh context; count each distinct script once."""
    context = browser.new_context()
    page = context.new_page()
    seen: dict[str, tuple[int, int, bool]] = {}

    def on_response(response) -> None:
        url = response.url
        if response.request.resource_type != "script" and not url.split("?")[0].endswith(".js"):
            return
        if url in seen:
            return
        try:
            body = response.body()
            transferred = response.request.sizes()["responseBodySize"]
        except Exception:  # e.g. a response that was redirected away
            return
        encoded = (response.headers.get("content-encoding") or "") in ("gzip", "br", "zstd")
        seen[url] = (transferred, len(body), encoded)

    page.on("response", on_response)
    for path in paths:
        page.goto(base_url + path, wait_until="networkidle")
    context.close()
    weight = Weight()
    for url, (transferred, decoded, encoded) in seen.items():
        weight.scripts += 1
        weight.transferred += transferred
        weight.decoded += decoded
        if not encoded and decoded > 1024:
            weight.uncompressed_responses.append(url)
    return weight


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-blank", type=Path, help="build the blank app here and keep it")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    env = node_env()
    started = time.monotonic()
    subprocess.run([str(ROOT / "scripts" / "build-frontend.sh")], cwd=ROOT, env=env, check=True)
    ours_build_s = time.monotonic() - started

    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        tmp_path = Path(tmp)
        blank_dir = args.keep_blank or tmp_path / "blank"
        blank_dir.mkdir(parents=True, exist_ok=True)
        print("building a blank Reflex app (production)…", flush=True)
        blank_build_s = build_blank(blank_dir, env)

        ours_port, blank_port = free_port(), free_port()
        ours_url, blank_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{blank_port}"
        ours_env = seeded_env(
            tmp_path / "data", PUBLIC_URL=ours_url, PORT=str(ours_port), HOST="127.0.0.1"
        )
        ours_env.update({k: v for k, v in env.items() if k == "PATH" or k.startswith("REFLEX_")})
        blank_cmd = [
            str(ROOT / ".venv" / "bin" / "reflex"),
            "run",
            "--env",
            "prod",
            "--single-port",
            "--backend-port",
            str(blank_port),
            "--loglevel",
            "warning",
        ]
        with (
            running(
                [str(ROOT / "scripts" / "serve.sh")],
                cwd=ROOT,
                env=ours_env,
                url=ours_url,
                timeout=60,
                log=tmp_path / "ours.log",
            ),
            running(
                blank_cmd,
                cwd=blank_dir,
                env=env,
                url=blank_url,
                timeout=600,
                log=tmp_path / "blank.log",
            ),
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ours_home = measure(browser, ours_url, ["/"])
            ours = measure(browser, ours_url, ["/", PRODUCT_PATH])
            blank = measure(browser, blank_url, ["/"])
            browser.close()

    ratio = ours.transferred / blank.transferred
    report = {
        "ours_home_and_product": asdict(ours),
        "ours_home_only": asdict(ours_home),
        "blank_home": asdict(blank),
        "ratio": round(ratio, 3),
        "ours_kib": round(ours.kib, 1),
        "build_seconds": {"ours": round(ours_build_s, 1), "blank": round(blank_build_s, 1)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))

    print("storefront weight (compressed JavaScript transferred, each file counted once)")
    print(
        f"  ours  / + product page: {ours.kib:7.1f} KiB in {ours.scripts} scripts ({ours.decoded / 1024:.0f} KiB decoded)"
    )
    print(f"  ours  / only          : {ours_home.kib:7.1f} KiB in {ours_home.scripts} scripts")
    print(
        f"  blank /               : {blank.kib:7.1f} KiB in {blank.scripts} scripts ({blank.decoded / 1024:.0f} KiB decoded)"
    )
    print(
        f"  ratio ours/blank      : {ratio:.2f}  (goal ≤ {GOAL_RATIO}; absolute goal ≤ {GOAL_KIB} KiB)"
    )
    ok = ratio <= GOAL_RATIO and ours.kib <= GOAL_KIB
    if ours.uncompressed_responses:
        ok = False
        print("  NOT compressed:", *ours.uncompressed_responses, sep="\n    ")
    print(f"  {'PASS' if ok else 'FAIL'}  (details in {RESULTS.relative_to(ROOT)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
