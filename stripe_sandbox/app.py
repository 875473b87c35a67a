"""ASGI application: Stripe's wire protocol, control endpoints, hosted pages, stripe.js."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import billing as _b
from . import coupons as _c
from . import events as _e
from . import params as params_mod
from . import payments as _p

# importing the resource modules registers their routes
from . import resources as _r  # noqa: I001
from . import search as _s
from .core import API_VERSION, Ctx, apply_expand, expand_paths, rand, render
from .errors import StripeError, invalid_request
from .forms import parse_body, parse_query

if TYPE_CHECKING:  # pragma: no cover
    from .sandbox import Sandbox

log = logging.getLogger("stripe_sandbox")
MAX_BODY = 1024 * 1024
STATIC = Path(__file__).with_name("static")
_VERSION_RX = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}
_ROUTES = _r.ROUTES
_ = (_p, _e, _c, _b, _s)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, indent=2)
    return Response(data, status_code=status, media_type="application/json", headers=headers)


class CORS:
    """Answer preflights and add CORS headers so pages on other origins can call the API."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"*").decode("latin-1") or "*"
        cors = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (
                b"access-control-expose-headers",
                b"Request-Id, Idempotent-Replayed, Stripe-Version, Idempotency-Key",
            ),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS":
            req_headers = headers.get(
                b"access-control-request-headers",
                b"Authorization, Content-Type, Stripe-Version, Idempotency-Key",
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *cors,
                        (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
                        (b"access-control-allow-headers", req_headers),
                        (b"access-control-max-age", b"600"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_cors(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                msg = dict(msg)
                msg["headers"] = [*msg.get("headers", []), *cors]
            await send(msg)

        await self.app(scope, receive, send_cors)


async def _read_body(request: Request) -> bytes:
    cl = request.headers.get("content-length")
    if cl and cl.isdigit() and int(cl) > MAX_BODY:
        raise invalid_request("Request body too large: the maximum size is 1 MB.", status=413)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise invalid_request("Request body too large: the maximum size is 1 MB.", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _auth(request: Request, params: dict[str, Any]) -> tuple[str, bool]:
    header = request.headers.get("authorization", "")
    key = ""
    if header.lower().startswith("bearer "):
        key = header[7:].strip()
    elif header.lower().startswith("basic "):
        import base64

        try:
            key = base64.b64decode(header[6:].strip()).decode().split(":", 1)[0]
        except Exception:
            key = ""
    if not key and isinstance(params.get("key"), str):
        key = params["key"]  # stripe.js style
    params.pop("key", None)
    if not key:
        raise StripeError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
            "or we can help at https://support.stripe.com/.",
        )
    if key.startswith(("sk_test_", "rk_test_")) and len(key) > 8:
        return key, False
    if key.startswith("pk_test_") and len(key) > 8:
        return key, True
    shown = key[:8] + "*" * max(0, min(len(key) - 12, 20)) + key[-4:] if len(key) > 12 else key
    raise StripeError(
        401,
        "invalid_request_error",
        f"Invalid API Key provided: {shown}",
        code="api_key_expired" if key.startswith("sk_live_") and False else None,
    )


def _fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    raw = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _split_idem(stored: str) -> tuple[str, str, str]:
    """(params hash, "METHOD path", first request id) of a stored idempotency entry."""
    parts = stored.split(" ")
    if len(parts) == 4:
        return parts[0], f"{parts[1]} {parts[2]}", parts[3]
    return stored, "", ""  # written by an older sandbox: the hash only


def _match(method: str, path: str):
    path_ok = False
    for r in _ROUTES:
        m = r.pattern.match(path)
        if m:
            path_ok = True
            if r.method == method:
                return r, m.groupdict(), True
    return None, {}, path_ok


def build_app(sb: Sandbox) -> Any:
    async def api(request: Request) -> Response:
        rid = "req_" + rand(14)
        headers = {"Request-Id": rid, "Stripe-Version": API_VERSION}
        try:
            return await _api(request, rid, headers)
        except StripeError as e:
            headers.update(e.headers)
            return _json(e.body(rid), e.status, headers)
        except Exception:
            log.exception("internal error")
            body = {
                "error": {
                    "type": "api_error",
                    "message": "An unknown error occurred.",
                    "request_log_url": f"https://dashboard.stripe.com/test/logs/{rid}",
                }
            }
            return _json(body, 500, headers)

    async def _api(request: Request, rid: str, headers: dict[str, str]) -> Response:
        method = request.method
        path = request.url.path.rstrip("/") or "/"
        version = request.headers.get("stripe-version")
        if version:
            if not _VERSION_RX.match(version):
                raise invalid_request(
                    f"Invalid Stripe API version: {version[:40]}",
                )
            headers["Stripe-Version"] = version
        body = await _read_body(request) if method == "POST" else b""
        ctype = request.headers.get("content-type", "")
        if body and "json" in ctype:
            raise invalid_request(
                "Invalid request: v1 API bodies must be form-encoded "
                "(application/x-www-form-urlencoded)."
            )
        params = parse_query(request.url.query)
        if method == "POST":
            params.update(parse_body(body))
        api_key, publishable = _auth(request, params)
        route, path_args, path_ok = _match(method, path)
        if route is None:
            raise invalid_request(
                f"Unrecognized request URL ({method}: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                status=404,
            )
        if publishable:
            if not route.publishable:
                raise StripeError(
                    401,
                    "invalid_request_error",
                    "This API call cannot be made with a publishable API key. Please use a "
                    "secret API key. You can find a list of your API keys at "
                    "https://dashboard.stripe.com/account/apikeys.",
                )
            if "/payment_intents/" in path:
                secret = params.pop("client_secret", None)
                pi = sb.store.get(path_args["id"])
                if (
                    pi is None
                    or pi.get("object") != "payment_intent"
                    or secret != pi.get("client_secret")
                ):
                    raise invalid_request(
                        "The client_secret provided does not match any associated "
                        "PaymentIntent on this account. Ensure the publishable key used belongs "
                        "to the same account that created the PaymentIntent.",
                        param="client_secret",
                        code="resource_missing",
                        status=404,
                    )
        if route.params:
            params_mod.check_removed(route.params, params)
            params_mod.validate(params_mod.schema(route.params), params)
        for k in ("expand",):
            if k in params and not isinstance(params[k], list):
                if isinstance(params[k], str) and params[k]:
                    params[k] = [params[k]]
                elif params[k] != "":
                    raise invalid_request("Invalid array", param=k)
        idem = request.headers.get("idempotency-key") if method == "POST" else None
        scoped = None
        fp = stored_fp = ""
        if idem:
            if len(idem) > 255:
                raise invalid_request(
                    "Idempotency-Key must be at most 255 characters long.", param="Idempotency-Key"
                )
            scoped = f"{api_key}:{idem}"
            # stored as "<params hash> <METHOD> <path> <request id>": the first request's id is
            # the `Original-Request` of every replay, and a key is bound to one endpoint
            fp = _fingerprint(method, path, params)
            stored_fp = f"{fp} {method} {path} {rid}"
            hit = sb.store.idem_get(scoped)
            if hit is not None:
                hit_fp, hit_endpoint, original = _split_idem(hit[0])
                if hit_endpoint and hit_endpoint != f"{method} {path}":
                    raise StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used for the same endpoint they "
                        f"were first used for ('{hit_endpoint}' vs '{method} {path}'). Try using a "
                        f"key other than '{idem}' if you meant to execute a different request.",
                    )
                if hit_fp != fp:
                    raise StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{idem}' if you meant to execute a different request.",
                    )
                headers.update(
                    {
                        "Idempotent-Replayed": "true",
                        "Idempotency-Key": idem,
                        "Original-Request": original or rid,
                    }
                )
                return Response(
                    hit[2], status_code=hit[1], media_type="application/json", headers=headers
                )
            headers["Idempotency-Key"] = idem
            headers["Original-Request"] = rid
        base = sb.public_url or str(request.base_url).rstrip("/")
        ctx = Ctx(sb, params, rid, idem, base, publishable)
        store = sb.store
        status = 200
        with store.lock:
            store.begin()
            committed = False
            try:
                result = route.handler(ctx, **path_args)
                result = apply_expand(ctx, result, expand_paths(ctx))
                text = json.dumps(result, indent=2)
                if scoped:
                    store.idem_put(scoped, stored_fp, 200, text)
                store.commit()
                committed = True
            except StripeError as e:
                status = e.status
                headers.update(e.headers)
                text = json.dumps(e.body(rid), indent=2)
                if e.commit:
                    if scoped:
                        store.idem_put(scoped, stored_fp, status, text)
                    store.commit()
                    committed = True
                else:
                    store.rollback()
                    if scoped and status < 500:
                        store.idem_put(scoped, stored_fp, status, text)
            except BaseException:
                store.rollback()
                raise
        if committed:
            for hook in ctx.after_commit:
                hook()
        return Response(text, status_code=status, media_type="application/json", headers=headers)

    # -- control endpoints ------------------------------------------------------------------------
    def _control_guard(request: Request) -> None:
        host = request.client.host if request.client else ""
        if not sb.control_open and host not in _LOOPBACK:
            raise StripeError(
                403,
                "invalid_request_error",
                "Sandbox control endpoints only answer loopback clients.",
            )

    async def _json_body(request: Request) -> dict[str, Any]:
        raw = await _read_body(request)
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            data = dict(parse_qsl(raw.decode("utf-8", "replace")))
        if not isinstance(data, dict):
            raise invalid_request("The body must be a JSON object.")
        return data

    def control(fn):
        async def endpoint(request: Request) -> Response:
            try:
                _control_guard(request)
                body = await _json_body(request) if request.method == "POST" else {}
                out = await fn(request, body)
                return out if isinstance(out, Response) else _json(out)
            except StripeError as e:
                return _json(e.body(), e.status)
            except (TypeError, ValueError) as e:
                return _json(invalid_request(f"Invalid control request: {e}").body(), 400)

        return endpoint

    def status() -> dict[str, Any]:
        d = sb.deliverer
        return {
            "controls": d.controls.to_dict(),
            "pending": d.pending_count(),
            "due": d.due_count(),
            "busy": d.busy,
            "webhook_url": sb.webhook_url,
            "webhook_secret": sb.webhook_secret,
            "api_version": API_VERSION,
        }

    @control
    async def c_status(request: Request, body: dict) -> Any:
        return status()

    @control
    async def c_pause(request: Request, body: dict) -> Any:
        sb.deliverer.controls.paused = True
        return status()

    @control
    async def c_resume(request: Request, body: dict) -> Any:
        sb.deliverer.controls.paused = False
        sb.deliverer.wake()
        return status()

    @control
    async def c_duplicate(request: Request, body: dict) -> Any:
        copies = int(body.get("copies", 2))
        if not 1 <= copies <= 20:
            raise invalid_request("copies must be between 1 and 20", param="copies")
        sb.deliverer.controls.duplicate = copies
        return status()

    @control
    async def c_shuffle(request: Request, body: dict) -> Any:
        sb.deliverer.controls.shuffle = bool(body.get("enabled", True))
        sb.deliverer.set_seed(int(body["seed"]) if body.get("seed") is not None else None)
        return status()

    @control
    async def c_delay(request: Request, body: dict) -> Any:
        seconds = float(body.get("seconds", 0))
        if not 0 <= seconds <= 3600:
            raise invalid_request("seconds must be between 0 and 3600", param="seconds")
        sb.deliverer.controls.delay = seconds
        return status()

    @control
    async def c_drop(request: Request, body: dict) -> Any:
        sb.deliverer.controls.drop_next = max(0, int(body.get("count", 1)))
        sb.deliverer.controls.drop_retry = bool(body.get("retry", True))
        return status()

    @control
    async def c_reset_controls(request: Request, body: dict) -> Any:
        sb.deliverer.reset_controls()
        return status()

    @control
    async def c_flush(request: Request, body: dict) -> Any:
        """Wait until nothing is due (deliveries scheduled for later do not count)."""
        timeout = float(body.get("timeout", 10))
        deadline = time.time() + timeout
        sb.deliverer.wake()
        while time.time() < deadline:
            if sb.deliverer.due_count() == 0 and not sb.deliverer.busy:
                break
            await asyncio.sleep(0.02)
        return status()

    @control
    async def c_deliveries(request: Request, body: dict) -> Any:
        q = request.query_params
        return {
            "object": "list",
            "data": sb.deliverer.deliveries(
                q.get("event"), q.get("target"), int(q.get("limit", "1000"))
            ),
        }

    @control
    async def c_replay(request: Request, body: dict) -> Any:
        evt_id = request.path_params["id"]
        evt = sb.store.get(evt_id)
        if evt is None or evt.get("object") != "event":
            raise StripeError(
                404, "invalid_request_error", f"No such event: '{evt_id}'", code="resource_missing"
            )
        targets = sb.webhook_targets(evt["type"])
        if body.get("endpoint"):
            targets = [t for t in targets if t == body["endpoint"]]
            if not targets:
                raise invalid_request(
                    "That endpoint does not receive this event.", param="endpoint"
                )
        with sb.store.lock:
            sb.deliverer.enqueue(evt_id, targets, replay=True)
        sb.deliverer.wake()
        return {"event": evt_id, "targets": targets, **status()}

    @control
    async def c_reset(request: Request, body: dict) -> Any:
        with sb.store.lock:
            sb.store.wipe()
            sb.store.kv_put("webhook_secret", sb.webhook_secret)
        sb.deliverer.reset_controls()
        return status()

    @control
    async def c_authenticate(request: Request, body: dict) -> Any:
        return _authenticate(
            request,
            request.path_params["id"],
            body.get("outcome", "complete"),
            None,
            check_secret=False,
        )

    @control
    async def c_advance_time(request: Request, body: dict) -> Any:
        raise invalid_request("Use the test clocks API (POST /v1/test_helpers/test_clocks).")

    def _authenticate(
        request: Request, pi_id: str, outcome: str, secret: str | None, check_secret: bool = True
    ) -> dict[str, Any]:
        if outcome not in ("complete", "fail"):
            raise invalid_request("outcome must be `complete` or `fail`", param="outcome")
        rid = "req_" + rand(14)
        ctx = Ctx(sb, {}, rid, None, sb.public_url or str(request.base_url).rstrip("/"))
        store = sb.store
        with store.lock:
            pi = store.get(pi_id)
            if (
                pi is None
                or pi.get("object") != "payment_intent"
                or (check_secret and secret != pi.get("client_secret"))
            ):
                raise StripeError(
                    404,
                    "invalid_request_error",
                    f"No such payment_intent: '{pi_id}'",
                    code="resource_missing",
                )
            store.begin()
            try:
                _p.authenticate(ctx, pi, outcome == "complete")
                store.commit()
            except BaseException:
                store.rollback()
                raise
        for hook in ctx.after_commit:
            hook()
        return render(pi)

    # -- hosted 3-D Secure page -----------------------------------------------------------------
    async def three_ds(request: Request) -> Response:
        pi_id = request.path_params["id"]
        if request.method == "GET":
            secret = request.query_params.get("client_secret", "")
            pi = sb.store.get(pi_id)
            if pi is None or pi.get("client_secret") != secret:
                return HTMLResponse("<h1>Unknown payment</h1>", 404)
            return HTMLResponse(_three_ds_page(pi, secret))
        try:
            raw = await _read_body(request)
            ctype = request.headers.get("content-type", "")
            data = (
                json.loads(raw)
                if "json" in ctype and raw
                else dict(parse_qsl(raw.decode("utf-8", "replace")))
            )
            pi = _authenticate(request, pi_id, data.get("outcome", ""), data.get("client_secret"))
        except StripeError as e:
            return _json(e.body(), e.status)
        except ValueError:
            return _json(invalid_request("Invalid body").body(), 400)
        if "json" in ctype or "json" in request.headers.get("accept", ""):
            return _json(pi)
        stored = sb.store.get(pi_id) or {}
        return_url = stored.get("_return_url")
        status_ = "succeeded" if pi["status"] in ("succeeded", "requires_capture") else "failed"
        if return_url:
            return RedirectResponse(
                _add_query(
                    return_url,
                    {
                        "payment_intent": pi["id"],
                        "payment_intent_client_secret": pi["client_secret"],
                        "redirect_status": status_,
                    },
                ),
                303,
            )
        return HTMLResponse(f"<h1>Authentication {html.escape(status_)}</h1>")

    async def stripe_js(request: Request) -> Response:
        text = (STATIC / "stripe.js").read_text(encoding="utf-8")
        base = sb.public_url or str(request.base_url).rstrip("/")
        text = text.replace("__SANDBOX_BASE__", base)
        return Response(
            text, media_type="application/javascript", headers={"Cache-Control": "no-cache"}
        )

    async def receipt(request: Request) -> Response:
        ch = sb.store.get(request.path_params["id"])
        if ch is None or ch.get("object") != "charge":
            return HTMLResponse("<h1>Receipt not found</h1>", 404)
        amount = ch["amount"] / 100
        return HTMLResponse(
            f"<!doctype html><title>Receipt</title><h1>Receipt</h1><p>Amount: "
            f"{amount:.2f} {html.escape(ch['currency'].upper())}</p>"
            f"<p>Status: {html.escape(ch['status'])}</p>"
        )

    async def root(request: Request) -> Response:
        return _json(
            {
                "name": "stripe-sandbox",
                "api_version": API_VERSION,
                "docs": "see stripe_sandbox/README.md",
            }
        )

    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        await sb.deliverer.start()
        try:
            yield
        finally:
            await sb.deliverer.stop()

    routes = [
        Route("/", root),
        Route("/_sandbox/health", health),
        Route("/v1/{path:path}", api, methods=["GET", "POST", "DELETE"]),
        Route("/js/v3/stripe.js", stripe_js),
        Route("/js/v3/", stripe_js),
        Route("/v3", stripe_js),
        Route("/_sandbox/3ds/{id}", three_ds, methods=["GET", "POST"]),
        Route("/_sandbox/receipts/{id}", receipt),
        Route("/_sandbox/webhooks", c_status),
        Route("/_sandbox/webhooks/pause", c_pause, methods=["POST"]),
        Route("/_sandbox/webhooks/resume", c_resume, methods=["POST"]),
        Route("/_sandbox/webhooks/duplicate", c_duplicate, methods=["POST"]),
        Route("/_sandbox/webhooks/shuffle", c_shuffle, methods=["POST"]),
        Route("/_sandbox/webhooks/delay", c_delay, methods=["POST"]),
        Route("/_sandbox/webhooks/drop", c_drop, methods=["POST"]),
        Route("/_sandbox/webhooks/reset", c_reset_controls, methods=["POST"]),
        Route("/_sandbox/webhooks/flush", c_flush, methods=["POST"]),
        Route("/_sandbox/deliveries", c_deliveries),
        Route("/_sandbox/events/{id}/replay", c_replay, methods=["POST"]),
        Route("/_sandbox/payment_intents/{id}/authenticate", c_authenticate, methods=["POST"]),
        Route("/_sandbox/reset", c_reset, methods=["POST"]),
        *_b.hosted_routes(sb),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)

    async def not_found(request: Request, exc: Exception) -> Response:
        rid = "req_" + rand(14)
        err = invalid_request(
            f"Unrecognized request URL ({request.method}: {request.url.path}).", status=404
        )
        return _json(err.body(rid), 404, {"Request-Id": rid})

    app.add_exception_handler(404, not_found)
    app.add_exception_handler(405, not_found)
    return CORS(app)


def _add_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    q = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), parts.fragment))


def _three_ds_page(pi: dict[str, Any], secret: str) -> str:
    amount = f"{pi['amount'] / 100:.2f} {pi['currency'].upper()}"
    pid = html.escape(pi["id"])
    sec = html.escape(secret)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>3D Secure authentication</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:1rem}}
button{{font-size:1rem;padding:.6rem 1rem;margin:.3rem}}</style></head>
<body><main>
<h1>3D Secure test payment</h1>
<p>Sandbox — payments are simulated. Authenticate a payment of <strong>{html.escape(amount)}</strong>.</p>
<form method="post" action="/_sandbox/3ds/{pid}">
<input type="hidden" name="client_secret" value="{sec}">
<button type="submit" name="outcome" value="complete">Complete authentication</button>
<button type="submit" name="outcome" value="fail">Fail authentication</button>
</form></main></body></html>"""
