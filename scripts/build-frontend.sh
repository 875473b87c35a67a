#!/usr/bin/env bash
# Production build of the Reflex frontend into .web/build/client.
# Skipped when nothing it depends on changed since the last build (stamp with a hash of
# shop/, assets/, rxconfig.py, requirements.lock and the settings baked into pages).
# FORCE=1 rebuilds anyway. Safe to run concurrently (flock).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
WEB_DIR="${REFLEX_WEB_WORKDIR:-$ROOT/.web}"
STAMP="$WEB_DIR/build/.shop-build-stamp"

export REFLEX_USE_NPM=1 REFLEX_TELEMETRY_ENABLED=false
NODE_BIN="$("$ROOT/scripts/ensure-node.sh")"
export PATH="$NODE_BIN:$PATH"

source_hash() {
    {
        find shop assets -type f \
            ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path 'assets/external/*' -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum
        sha256sum rxconfig.py requirements.lock 2>/dev/null || true
        "$PYTHON" -c 'from shop.settings import get_settings as g; s = g(); print(s.shop_name, s.sandbox_mode)'
        node --version
    } | sha256sum | cut -d' ' -f1
}

mkdir -p "$WEB_DIR"
exec 9>"$WEB_DIR/.shop-build.lock"
flock 9

hash="$(source_hash)"
if [[ "${FORCE:-0}" != 1 && -f "$STAMP" && "$(cat "$STAMP")" == "$hash" &&
    -f "$WEB_DIR/build/client/index.html" ]]; then
    echo "frontend build is up to date (${hash:0:12})"
    exit 0
fi

echo "building the frontend (production)…"
started=$(date +%s)
rm -f "$STAMP"
"$ROOT/.venv/bin/reflex" export --frontend-only --no-zip --env prod --loglevel warning
"$PYTHON" -m shop.web.build
echo "$hash" >"$STAMP"
echo "frontend built in $(($(date +%s) - started)) s"
