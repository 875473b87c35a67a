"""Request context, ids, shapes, rendering, expansion, pagination and events."""

from __future__ import annotations

import copy
import json
import secrets
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StripeError, invalid_request, missing

if TYPE_CHECKING:  # pragma: no cover
    from .sandbox import Sandbox

API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits
_SHAPES: dict[str, list[str]] = json.loads(
    (Path(__file__).with_name("shapes.json")).read_text(encoding="utf-8")
)


def rand(n: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_id(prefix: str, n: int = 24) -> str:
    return f"{prefix}_{rand(n)}"


def now() -> int:
    return int(time.time())


def blank(type_: str) -> dict[str, Any]:
    """A dict carrying every field Stripe's published fixture has for this type."""
    return dict.fromkeys(_SHAPES[type_])


def shape_keys(type_: str) -> list[str]:
    return list(_SHAPES[type_])


@dataclass
class Ctx:
    sandbox: Sandbox
    params: dict[str, Any]
    request_id: str = ""
    idempotency_key: str | None = None
    base_url: str = "http://127.0.0.1:12111"
    publishable: bool = False
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    @property
    def store(self):
        return self.sandbox.store

    # -- params helpers -------------------------------------------------------------
    def p(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def require(self, name: str) -> Any:
        v = self.params.get(name)
        if v is None or v == "":
            raise invalid_request(
                f"Missing required param: {name}.", param=name, code="parameter_missing"
            )
        return v


# -- value coercion ---------------------------------------------------------------------
def as_int(v: Any, param: str, *, minimum: int | None = None) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise invalid_request(
            f"Invalid integer: {v!r}", param=param, code="parameter_invalid_integer"
        )
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise invalid_request(
            f"Invalid integer: {str(v)[:60]}", param=param, code="parameter_invalid_integer"
        ) from None
    if minimum is not None and n < minimum:
        raise invalid_request(
            f"Invalid {param}: must be at least {minimum}",
            param=param,
            code="parameter_invalid_integer",
        )
    return n


def as_float(v: Any, param: str) -> float | None:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        raise invalid_request(f"Invalid decimal: {str(v)[:60]}", param=param) from None


def as_bool(v: Any, param: str) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    if v in ("true", "True", "1"):
        return True
    if v in ("false", "False", "0"):
        return False
    raise invalid_request(
        f"Invalid boolean: {str(v)[:60]}", param=param, code="parameter_invalid_boolean"
    )


def as_str(v: Any, param: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, dict | list):
        raise invalid_request(
            f"Invalid string: {param} must be a string",
            param=param,
            code="parameter_invalid_string",
        )
    return str(v)


def as_list(v: Any, param: str) -> list[Any]:
    if v is None or v == "":
        return []
    if isinstance(v, list):
        return v
    if isinstance(v, dict) and all(k.isdigit() for k in v):
        return [v[k] for k in sorted(v, key=int)]
    raise invalid_request(f"Invalid array: {param} must be an array", param=param)


def as_dict(v: Any, param: str) -> dict[str, Any]:
    if v is None or v == "":
        return {}
    if not isinstance(v, dict):
        raise invalid_request(f"Invalid object: {param} must be a hash", param=param)
    return v


def merge_metadata(current: dict[str, str] | None, update: Any) -> dict[str, str]:
    """Stripe semantics: keys merge, an empty string deletes a key, "" for the whole thing clears."""
    meta = dict(current or {})
    if update is None:
        return meta
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid_request("Invalid object: metadata must be a hash", param="metadata")
    for k, v in update.items():
        if isinstance(v, dict | list):
            raise invalid_request(f"Invalid value for metadata[{k}]", param=f"metadata[{k}]")
        if len(k) > 40:
            raise invalid_request(
                "Metadata keys can have up to 40 characters.", param=f"metadata[{k[:40]}]"
            )
        if len(str(v)) > 500:
            raise invalid_request(
                "Metadata values can have up to 500 characters.", param=f"metadata[{k}]"
            )
        if v == "":
            meta.pop(k, None)
        else:
            meta[k] = str(v)
    if len(meta) > 50:
        raise invalid_request("Metadata can have up to 50 keys.", param="metadata")
    return meta


# -- rendering, expansion -------------------------------------------------------------------
def render(obj: dict[str, Any]) -> dict[str, Any]:
    """Public view of a stored object: drop sandbox-private ``_`` fields."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


# How Stripe names a type in "No such …" errors where it differs from the plain words.
_MISSING_LABEL = {"payment_intent": "payment_intent", "setup_intent": "setup_intent"}


def load(ctx: Ctx, id_: str, type_: str, label: str | None = None, param: str = "id") -> dict:
    obj = ctx.store.get(id_) if isinstance(id_, str) and id_ else None
    if obj is None or obj.get("object") != type_ or obj.get("_deleted"):
        raise missing(
            label or _MISSING_LABEL.get(type_) or type_.replace("_", " ").split(".")[-1],
            str(id_),
            param,
        )
    return obj


# Fields Stripe leaves out of an object unless they are expanded (`line_items` of a Checkout
# Session, `subscriptions` of a Customer): object type -> field -> builder of its value.
INCLUDABLE: dict[str, dict[str, Callable[[Ctx, dict[str, Any]], Any]]] = {}


def includable(type_: str, field_name: str):
    def deco(fn: Callable[[Ctx, dict[str, Any]], Any]) -> Callable[[Ctx, dict[str, Any]], Any]:
        INCLUDABLE.setdefault(type_, {})[field_name] = fn
        return fn

    return deco


def apply_expand(ctx: Ctx, obj: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    for path in paths:
        if not isinstance(path, str) or not path:
            raise invalid_request("Invalid expand parameter.", param="expand")
        parts = path.split(".")
        if len(parts) > 4:
            raise invalid_request(
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param="expand",
            )
        _expand(ctx, obj, parts, path)
    return obj


def _expand(ctx: Ctx, obj: Any, parts: list[str], full: str) -> None:
    if obj is None:
        return
    if isinstance(obj, list):
        for item in obj:
            _expand(ctx, item, parts, full)
        return
    if not isinstance(obj, dict):
        raise invalid_request(f"This property cannot be expanded ({full}).", param="expand")
    head, rest = parts[0], parts[1:]
    build = INCLUDABLE.get(str(obj.get("object")), {}).get(head)
    if head not in obj and build is not None:
        obj[head] = build(ctx, obj)
    if head not in obj:
        raise invalid_request(f"This property cannot be expanded ({head}).", param="expand")
    val = obj[head]
    if isinstance(val, str):
        if head in ("id", "object", "client_secret", "url", "status", "currency", "type"):
            raise invalid_request(f"This property cannot be expanded ({head}).", param="expand")
        target = ctx.store.get(val)
        if target is None:
            raise invalid_request(f"This property cannot be expanded ({head}).", param="expand")
        if target.get("_deleted"):
            val = {"id": target["id"], "object": target["object"], "deleted": True}
        else:
            val = render(target)
        obj[head] = val
    elif isinstance(val, list) and val and all(isinstance(v, str) for v in val):
        out = []
        for v in val:
            t = ctx.store.get(v)
            out.append(render(t) if t else v)
        obj[head] = val = out
    elif val is not None and not isinstance(val, dict | list):
        raise invalid_request(f"This property cannot be expanded ({head}).", param="expand")
    if rest:
        _expand(ctx, val, rest, full)


def expand_paths(ctx: Ctx) -> list[str]:
    raw = ctx.params.get("expand")
    if raw is None:
        return []
    return [str(x) for x in as_list(raw, "expand")]


# -- lists -----------------------------------------------------------------------------------
def paginate(
    ctx: Ctx,
    type_: str,
    url: str,
    where: Callable[[dict[str, Any]], bool] | None = None,
    items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Newest first, with Stripe's cursor parameters."""
    limit = as_int(ctx.p("limit"), "limit")
    if limit is None:
        limit = 10
    if limit < 1 or limit > 100:
        raise invalid_request(
            "Invalid limit: must be between 1 and 100",
            param="limit",
            code="parameter_invalid_integer",
        )
    sa, eb = ctx.p("starting_after"), ctx.p("ending_before")
    if sa and eb:
        raise invalid_request(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    created = ctx.p("created")
    if items is None:
        rows = list(ctx.store.iter_type(type_))
    else:
        rows = [(i, o) for i, o in enumerate(reversed(items))]
        rows.reverse()
    cand: list[dict[str, Any]] = [
        o
        for _, o in rows
        if not o.get("_deleted") and (where is None or where(o)) and _created_ok(o, created)
    ]
    if sa or eb:
        cursor = sa or eb
        ids = [o["id"] for o in cand]
        if cursor not in ids:
            if ctx.store.get(cursor) is None:
                raise missing(
                    type_.split(".")[-1].replace("_", " "),
                    cursor,
                    "starting_after" if sa else "ending_before",
                )
            # cursor exists but is filtered out: fall back on the seq order
            seq = ctx.store.seq_of(cursor) or 0
            seqs = {o["id"]: ctx.store.seq_of(o["id"]) or 0 for o in cand}
            if sa:
                page_src = [o for o in cand if seqs[o["id"]] < seq]
            else:
                page_src = [o for o in cand if seqs[o["id"]] > seq]
        else:
            i = ids.index(cursor)
            page_src = cand[i + 1 :] if sa else cand[:i]
        if eb:
            page = page_src[-limit:]
            has_more = len(page_src) > limit
        else:
            page = page_src[:limit]
            has_more = len(page_src) > limit
    else:
        page = cand[:limit]
        has_more = len(cand) > limit
    return {
        "object": "list",
        "data": [render(o) for o in page],
        "has_more": has_more,
        "url": url,
    }


def _created_ok(o: dict[str, Any], created: Any) -> bool:
    if created is None or created == "":
        return True
    c = o.get("created") or 0
    if isinstance(created, dict):
        for op, v in created.items():
            n = as_int(v, f"created[{op}]")
            if n is None:
                continue
            if (
                (op == "gt" and not c > n)
                or (op == "gte" and not c >= n)
                or (op == "lt" and not c < n)
                or (op == "lte" and not c <= n)
            ):
                return False
            if op not in ("gt", "gte", "lt", "lte"):
                raise invalid_request(
                    f"Received unknown parameter: created[{op}]",
                    param=f"created[{op}]",
                    code="parameter_unknown",
                )
        return True
    return c == as_int(created, "created")


# -- events ----------------------------------------------------------------------------------
def emit(
    ctx: Ctx,
    type_: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    sb = ctx.sandbox
    evt = blank("event")
    data: dict[str, Any] = {"object": render(obj)}
    if previous:
        data["previous_attributes"] = previous
    evt.update(
        id=new_id("evt"),
        object="event",
        api_version=API_VERSION,
        created=now(),
        data=data,
        livemode=False,
        pending_webhooks=0,
        request={"id": ctx.request_id or None, "idempotency_key": ctx.idempotency_key},
        type=type_,
    )
    if "context" in evt:
        evt["context"] = None
    targets = sb.webhook_targets(type_)
    evt["pending_webhooks"] = len(targets)
    ctx.store.put(evt)
    sb.enqueue(evt["id"], targets)
    ctx.after_commit.append(sb.wake_deliverer)
    return evt


def fail(status: int, type_: str, message: str, **kw: Any) -> StripeError:
    return StripeError(status, type_, message, **kw)
