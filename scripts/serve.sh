#!/usr/bin/env bash
# Serve the built storefront + REST API + event websocket on ONE port with granian.
# Needs a production build (scripts/build-frontend.sh); never builds or installs itself,
# so it starts in seconds. Env: PORT (default 8000), HOST (default 0.0.0.0),
# WORKERS (default 1; only raise it with REDIS_URL set: Reflex state lives in Redis then).
# Foreground for `make run`; tests start it in the background on a free port.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
WEB_DIR="${REFLEX_WEB_WORKDIR:-$ROOT/.web}"

if [[ ! -f "$WEB_DIR/build/client/index.html" ]]; then
    echo "serve: no frontend build in $WEB_DIR/build/client; run scripts/build-frontend.sh" >&2
    exit 1
fi

export REFLEX_ENV_MODE=prod
export REFLEX_USE_NPM=1 REFLEX_TELEMETRY_ENABLED=false
PORT="${PORT:-8000}"
HOST="${HOST:-0.0.0.0}"
if [[ -n "${REDIS_URL:-}" ]]; then
    default_workers=$(($(nproc) * 2 + 1))
else
    default_workers=1
fi
WORKERS="${WORKERS:-$default_workers}"

echo "serving on http://$HOST:$PORT (workers: $WORKERS)"
# --respawn-failed-workers: a worker that dies (out of memory, a crash) is replaced, instead
# of granian stopping every worker and the whole shop with it.
exec "$PYTHON" -m granian --interface asgi --factory --host "$HOST" --port "$PORT" \
    --workers "$WORKERS" --respawn-failed-workers --log-level "${GRANIAN_LOG_LEVEL:-warning}" --no-access-log \
    shop.web.asgi:create_app
