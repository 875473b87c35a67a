"""Events and webhook endpoints."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from .core import (
    Ctx,
    as_bool,
    as_list,
    as_str,
    blank,
    load,
    merge_metadata,
    new_id,
    now,
    paginate,
    rand,
    render,
)
from .errors import invalid_request
from .resources import deleted, route, set_simple, update_metadata

_EVENT_NAME = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")


def event_matches(pattern: str, type_: str) -> bool:
    return pattern == "*" or pattern == type_ or fnmatch.fnmatchcase(type_, pattern)


@route("GET", "/v1/events/{id}", "EventRetrieveParams")
def event_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "event"))


@route("GET", "/v1/events", "EventListParams")
def event_list(ctx: Ctx) -> dict[str, Any]:
    type_ = ctx.p("type")
    types = [str(t) for t in as_list(ctx.p("types"), "types")]
    if type_ and types:
        raise invalid_request(
            "You may only specify one of these parameters: type, types.", param="types"
        )
    if len(types) > 20:
        raise invalid_request("You may pass up to 20 types.", param="types")
    ds = as_bool(ctx.p("delivery_success"), "delivery_success")

    def ok(e: dict[str, Any]) -> bool:
        if type_ and not event_matches(str(type_), e["type"]):
            return False
        if types and e["type"] not in types:
            return False
        if ds is True and e["pending_webhooks"] > 0:
            return False
        return not (ds is False and e["pending_webhooks"] == 0)

    return paginate(ctx, "event", "/v1/events", ok)


def _enabled_events(v: Any) -> list[str]:
    events = [str(e) for e in as_list(v, "enabled_events")]
    if not events:
        raise invalid_request(
            "Missing required param: enabled_events.",
            param="enabled_events",
            code="parameter_missing",
        )
    for e in events:
        if not _EVENT_NAME.match(e):
            raise invalid_request(
                f"Invalid enabled_events: {e[:80]} is not a valid event type.",
                param="enabled_events",
            )
    return events


def _url(v: Any) -> str:
    url = as_str(v, "url") or ""
    if not url:
        raise invalid_request("Missing required param: url.", param="url", code="parameter_missing")
    if not re.match(r"^https?://[^\s/$.?#].[^\s]*$", url):
        raise invalid_request(
            "Invalid URL: url must be a valid URL.", param="url", code="url_invalid"
        )
    return url


@route("POST", "/v1/webhook_endpoints", "WebhookEndpointCreateParams")
def we_create(ctx: Ctx) -> dict[str, Any]:
    we = blank("webhook_endpoint")
    we.update(
        id=new_id("we"),
        object="webhook_endpoint",
        api_version=ctx.p("api_version") or None,
        application=None,
        created=now(),
        description=ctx.p("description") or None,
        enabled_events=_enabled_events(ctx.p("enabled_events")),
        livemode=False,
        metadata=merge_metadata({}, ctx.p("metadata")),
        status="enabled",
        url=_url(ctx.p("url")),
        _secret="whsec_" + rand(32),
    )
    ctx.store.put(we)
    out = render(we)
    out["secret"] = we["_secret"]
    return out


@route("GET", "/v1/webhook_endpoints/{id}", "WebhookEndpointRetrieveParams")
def we_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "webhook_endpoint", "webhook endpoint"))


@route("POST", "/v1/webhook_endpoints/{id}", "WebhookEndpointUpdateParams")
def we_update(ctx: Ctx, id: str) -> dict[str, Any]:
    we = load(ctx, id, "webhook_endpoint", "webhook endpoint")
    prev = set_simple(ctx, we, ["description"])
    update_metadata(ctx, we, prev)
    if "url" in ctx.params:
        we["url"] = _url(ctx.p("url"))
    if "enabled_events" in ctx.params:
        we["enabled_events"] = _enabled_events(ctx.p("enabled_events"))
    if "disabled" in ctx.params:
        we["status"] = "disabled" if as_bool(ctx.p("disabled"), "disabled") else "enabled"
    ctx.store.put(we)
    return render(we)


@route("DELETE", "/v1/webhook_endpoints/{id}", "WebhookEndpointDeleteParams")
def we_delete(ctx: Ctx, id: str) -> dict[str, Any]:
    we = load(ctx, id, "webhook_endpoint", "webhook endpoint")
    ctx.store.delete(we["id"])
    return deleted(we)


@route("GET", "/v1/webhook_endpoints", "WebhookEndpointListParams")
def we_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(ctx, "webhook_endpoint", "/v1/webhook_endpoints")
