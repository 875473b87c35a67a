# The shop appliance as one container: storefront (Reflex, built at image build time),
# REST API and Stripe webhooks on one port, served by granian. Data lives in /data (a volume).
# Deployment guide: deploy/leaseweb/README.md.
#
#   docker build -t shop .                        # the storefront is built for live Stripe keys
#   docker build --build-arg STRIPE_MODE=sandbox -t shop .   # ... for the offline sandbox
#   docker run -p 127.0.0.1:8000:8000 -v shop-data:/data --env-file shop.env shop
#
# Node.js comes with the base image (22.x; Reflex needs >= 22.22), Python and the PostgreSQL
# client tools (pg_dump/pg_restore/psql for `python -m shop backup|restore`) from Debian.
# Nothing is downloaded except through the Debian, PyPI and npm registries.
FROM node:22-bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv make postgresql-client curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# The app runs as an unprivileged user; its home holds npm's and Reflex's caches.
RUN groupadd --system --gid 10001 shop \
    && useradd --system --uid 10001 --gid shop --create-home --home-dir /home/shop \
        --shell /usr/sbin/nologin shop

WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    REFLEX_USE_NPM=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    SHOP_DATA_DIR=/data \
    PORT=8000 \
    HOST=0.0.0.0

# Python dependencies first, so this layer is reused while only the code changes.
# (`make install` creates .venv with $PYTHON and pip-installs requirements.lock.)
COPY requirements.lock pyproject.toml Makefile ./
COPY scripts/ scripts/
RUN make install PYTHON=/usr/bin/python3 \
    && rm -rf /root/.cache

# The code, owned by root: the app user can read it but not change it. It writes only to
# .web (the frontend build, rebuilt at start if SHOP_NAME or the Stripe mode differ from
# the build's), .gitignore and reflex.lock/ (Reflex's build rewrites them), .states
# (Reflex's UI state when REDIS_URL is unset) and /data.
COPY . .
RUN mkdir -p .web .states /data \
    && chown -R shop:shop .web .states .gitignore reflex.lock /data \
    && chmod 0750 /data

# What the storefront shows is partly fixed at build time: the shop's name (page titles)
# and whether the sandbox notice is shown. Build with the values you run with, or the
# first start rebuilds the storefront (a few minutes; see CMD).
# STRIPE_MODE=live builds for real Stripe keys (a placeholder key is set for this step
# only, so the build takes the live path; nothing talks to Stripe while building).
ARG SHOP_NAME="Maple & Pine Digital"
ARG STRIPE_MODE=live
USER shop
# The production frontend (what `make frontend` runs, without re-checking the Python deps
# as this user). A throwaway data dir, so no generated secret ends up in the image.
RUN export SHOP_NAME="$SHOP_NAME" SHOP_DATA_DIR=/tmp/build-data \
    && if [ "$STRIPE_MODE" = live ]; then export STRIPE_SECRET_KEY=sk_live_build_placeholder; fi \
    && scripts/build-frontend.sh \
    && rm -rf /tmp/build-data /home/shop/.npm /home/shop/.cache

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/api/health" >/dev/null || exit 1

# Start: make sure the storefront build matches this configuration (a no-op taking about a
# second when it does), then migrate, bootstrap the admin and serve (`python -m shop run`).
# `docker compose run --rm shop python -m shop …` runs a maintenance command instead.
CMD ["bash", "-c", "scripts/build-frontend.sh && exec python -m shop run"]
