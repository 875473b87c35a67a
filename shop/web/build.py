"""Where the production frontend build lives, and its HTML shells."""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path


def client_dir() -> Path:
    """`.web/build/client` (or under REFLEX_WEB_WORKDIR): the built static files."""
    from reflex.utils.prerequisites import get_web_dir

    return (get_web_dir() / "build" / "client").resolve()


def read_shell(name: str) -> bytes | None:
    """A built HTML file (e.g. `404.html`), cached until the build changes."""
    path = client_dir() / name
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _read(str(path), mtime)


@lru_cache(maxsize=8)
def _read(path: str, _mtime: int) -> bytes:
    return Path(path).read_bytes()


# The bundle's endpoint table (`reflex-env-*.js`) holds absolute URLs such as
# `ws://localhost:8000/_event`. Rewritten to take the page's own origin at run time,
# one build serves any port and any host name (tests on a free port, a proxy in front).
_ENV_CHUNK_GLOB = "reflex-env-*.js"
_BAKED_URL = re.compile(r"[`\"'](?P<scheme>https?|wss?)://[^/`\"']+(?P<path>/[^`\"']*)[`\"']")
_ORIGIN_PRELUDE = (
    'var __shopOrigin=typeof location<"u"?location.origin:"http://localhost",'
    '__shopWsOrigin=__shopOrigin.replace(/^http/,"ws");'
)


def make_env_origin_relative(directory: Path | None = None) -> list[Path]:
    """Rewrite the env chunk(s) so endpoints follow `location.origin`; refresh .gz files."""
    directory = directory or client_dir()
    changed = []
    for path in sorted((directory / "assets").glob(_ENV_CHUNK_GLOB)):
        source = path.read_text(encoding="utf-8")
        if "__shopOrigin" in source:
            continue

        def replace(match: re.Match[str]) -> str:
            base = "__shopWsOrigin" if match["scheme"].startswith("ws") else "__shopOrigin"
            return f"({base}+{json.dumps(match['path'])})"

        rewritten = _BAKED_URL.sub(replace, source)
        if rewritten == source:
            continue
        path.write_text(_ORIGIN_PRELUDE + rewritten, encoding="utf-8")
        for sidecar, compress in ((".gz", _gzip),):
            compressed = path.with_name(path.name + sidecar)
            if compressed.exists():
                compressed.write_bytes(compress(path.read_bytes()))
        changed.append(path)
    return changed


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


if __name__ == "__main__":
    changed = make_env_origin_relative()
    print(
        f"origin-relative endpoints in {', '.join(p.name for p in changed) or 'no file (done before)'}"
    )
